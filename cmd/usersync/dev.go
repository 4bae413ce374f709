package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"time"

	"github.com/usersync/usersync/app"
	"github.com/usersync/usersync/clerk"
	"github.com/usersync/usersync/webhooks"
)

const devHelp = `usersync dev keygen|token|webhook: try every route without a Clerk account or a tunnel.
  usersync dev keygen [--dir D]       write an RSA key pair to D (default ./data) and print the CLERK_JWT_KEY line
  usersync dev token --sub user_… [--email E] [--ttl 60s] [--key F]
                                      print a session token signed with that key, with Clerk's claims
  usersync dev webhook user.created|user.updated|user.deleted --sub user_… [--email E] [--first F] [--last L] [--url U]
                                      send a Clerk event signed with CLERK_WEBHOOK_SIGNING_SECRET, print the answer
serve has no dev mode: it trusts the dev key only because CLERK_JWT_KEY says so.
Each takes -h.`

func (c cli) dev(ctx context.Context, args []string) error {
	return c.runAction(ctx, args, "dev", devHelp, "keygen, token or webhook", map[string]func(context.Context, []string) error{
		"keygen":  c.devKeygen,
		"token":   c.devToken,
		"webhook": c.devWebhook,
	})
}

// defaultDevDir is where keygen writes and token reads the key pair.
const defaultDevDir = "data"

func (c cli) devKeygen(_ context.Context, args []string) error {
	fs := newFlags("dev keygen", "usersync dev keygen [--dir D]: write a development RSA key pair and print the CLERK_JWT_KEY line that trusts it.")
	dir := fs.String("dir", defaultDevDir, "folder for "+clerk.DevPrivateKeyFile+" and "+clerk.DevPublicKeyFile)
	if err := c.parse(fs, args); err != nil {
		return err
	}
	public, err := clerk.GenerateDevKey(*dir)
	if err != nil {
		return fmt.Errorf("dev keygen: %w", err)
	}
	fmt.Fprintf(c.stderr, "wrote %s and %s; add this line to .env (or the environment) of usersync serve:\n",
		filepath.Join(*dir, clerk.DevPrivateKeyFile), filepath.Join(*dir, clerk.DevPublicKeyFile))
	// One line: the PEM with its newlines escaped, as CLERK_JWT_KEY accepts it.
	fmt.Fprintf(c.stdout, "CLERK_JWT_KEY=%s\n", strings.ReplaceAll(strings.TrimSpace(public), "\n", `\n`))
	return nil
}

func (c cli) devToken(_ context.Context, args []string) error {
	fs := newFlags("dev token", "usersync dev token --sub user_… [--email E] [--ttl 60s]: print a session token signed with the dev key.")
	sub := fs.String("sub", "", "the Clerk user id (sub claim), e.g. user_demo")
	email := fs.String("email", "", "an email claim, as a customized session token carries it")
	ttl := fs.Duration("ttl", time.Minute, "lifetime (Clerk's session tokens live 60s; the server refuses more than CLERK_MAX_TOKEN_LIFETIME)")
	key := fs.String("key", filepath.Join(defaultDevDir, clerk.DevPrivateKeyFile), "private key written by dev keygen")
	if err := c.parse(fs, args); err != nil {
		return err
	}
	if *sub == "" {
		return errors.New("dev token: --sub is required")
	}
	if *ttl <= 0 {
		return errors.New("dev token: --ttl must be positive")
	}
	private, err := clerk.LoadPrivateKey(*key)
	if err != nil {
		return fmt.Errorf("dev token: %w (run usersync dev keygen first)", err)
	}
	tok, err := clerk.SignToken(private, clerk.DevKeyID, clerk.SessionClaims(*sub, *email, time.Now(), *ttl))
	if err != nil {
		return fmt.Errorf("dev token: %w", err)
	}
	fmt.Fprintln(c.stdout, tok)
	return nil
}

func (c cli) devWebhook(ctx context.Context, args []string) error {
	fs := newFlags("dev webhook", "usersync dev webhook user.created|user.updated|user.deleted --sub user_… [--email E] [--first F] [--last L] [--url U]:\n"+
		"build a Clerk event, sign it with CLERK_WEBHOOK_SIGNING_SECRET as Svix does, send it and print the answer.")
	sub := fs.String("sub", "", "the Clerk user id, e.g. user_demo")
	email := fs.String("email", "", "the user's primary email (user.created, user.updated)")
	first := fs.String("first", "", "first name")
	last := fs.String("last", "", "last name")
	target := fs.String("url", "", "where to send it (default: /api/webhooks/clerk on ADDR or PORT, else http://127.0.0.1:8000)")
	positional, err := c.parseInterspersed(fs, args)
	if err != nil {
		return err
	}
	if len(positional) != 1 {
		return errors.New("dev webhook: want one event type: user.created, user.updated or user.deleted")
	}
	eventType := positional[0]
	switch eventType {
	case webhooks.TypeUserCreated, webhooks.TypeUserUpdated, webhooks.TypeUserDeleted:
	default:
		return fmt.Errorf("dev webhook: unknown event type %q (want user.created, user.updated or user.deleted)", eventType)
	}
	if *sub == "" {
		return errors.New("dev webhook: --sub is required")
	}
	cfg, _, err := c.setup()
	if err != nil {
		return err
	}
	if len(cfg.WebhookSecrets) == 0 {
		return errors.New("dev webhook: CLERK_WEBHOOK_SIGNING_SECRET is not configured")
	}
	if *target == "" {
		*target = localURL(cfg, "/api/webhooks/clerk")
	}

	now := time.Now()
	body := webhooks.BuildUserEvent(eventType, webhooks.EventUser{
		ID: *sub, Email: *email, FirstName: *first, LastName: *last, UpdatedAt: now,
	}, now)
	id := make([]byte, 12)
	if _, err := rand.Read(id); err != nil {
		return err
	}
	header, err := webhooks.SignHeaders(cfg.WebhookSecrets[0], "msg_dev_"+hex.EncodeToString(id), now, body)
	if err != nil {
		return fmt.Errorf("dev webhook: %w", err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, *target, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("dev webhook: %w", err)
	}
	req.Header = header
	res, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
	if err != nil {
		return fmt.Errorf("dev webhook: %w", err)
	}
	defer res.Body.Close()
	answer, err := io.ReadAll(res.Body)
	if err != nil {
		return fmt.Errorf("dev webhook: read the answer: %w", err)
	}
	fmt.Fprintf(c.stdout, "%s %s\n", res.Status, bytes.TrimSpace(answer))
	if res.StatusCode >= 300 {
		return fmt.Errorf("dev webhook: the server answered %s", res.Status)
	}
	return nil
}

// localURL is path on the server this configuration listens on, reached
// from this machine (healthcheck and dev webhook use it).
func localURL(cfg app.Config, path string) string {
	host, port, _ := strings.Cut(cfg.Addr, ":")
	if host == "" || host == "0.0.0.0" || host == "[::]" {
		host = "127.0.0.1"
	}
	return "http://" + host + ":" + port + path
}
