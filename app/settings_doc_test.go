package app_test

import (
	"fmt"
	"os"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/usersync/usersync/app"
	"github.com/usersync/usersync/testkit"
)

// A settings table is a Markdown table on the lines after a line that
// starts with settingsMarker. Its header starts with "variable" and has a
// "default" column; each row documents one variable, named in backticks in
// the first cell. The default cell starts with the default value in
// backticks, or with "—" when the variable has none (unset).
const settingsMarker = "<!-- settings"

var (
	variableCell = regexp.MustCompile("^`([A-Z][A-Z0-9_]*)`$")
	defaultCell  = regexp.MustCompile("^`([^`]+)`")
)

// settingsRow is one documented variable.
type settingsRow struct {
	defaultCell string // as written
	line        int
}

// defaultValue is the documented default, and false for "—" (none).
func (r settingsRow) defaultValue() (string, bool) {
	m := defaultCell.FindStringSubmatch(r.defaultCell)
	if m == nil {
		return "", false
	}
	return m[1], true
}

// parseSettingsTables reads every settings table of a Markdown document.
func parseSettingsTables(doc string) (map[string]settingsRow, error) {
	lines := strings.Split(doc, "\n")
	rows := map[string]settingsRow{}
	tables := 0
	for i := 0; i < len(lines); i++ {
		if !strings.HasPrefix(strings.TrimSpace(lines[i]), settingsMarker) {
			continue
		}
		tables++
		j := i + 1
		for j < len(lines) && strings.TrimSpace(lines[j]) == "" {
			j++
		}
		if j+1 >= len(lines) || !isTableLine(lines[j]) || !isTableLine(lines[j+1]) ||
			strings.Trim(lines[j+1], "|-: ") != "" {
			return nil, fmt.Errorf("line %d: a settings marker must be followed by a Markdown table", i+1)
		}
		header := tableCells(lines[j])
		def := slices.Index(header, "default")
		if header[0] != "variable" || def < 0 {
			return nil, fmt.Errorf("line %d: a settings table's header starts with \"variable\" and has a \"default\" column, got %q", j+1, header)
		}
		for j += 2; j < len(lines) && isTableLine(lines[j]); j++ {
			cells := tableCells(lines[j])
			if len(cells) != len(header) {
				return nil, fmt.Errorf("line %d: %d cells, want %d", j+1, len(cells), len(header))
			}
			m := variableCell.FindStringSubmatch(cells[0])
			if m == nil {
				return nil, fmt.Errorf("line %d: the first cell must name one variable in backticks, got %q", j+1, cells[0])
			}
			if prev, dup := rows[m[1]]; dup {
				return nil, fmt.Errorf("line %d: %s is listed twice (also on line %d)", j+1, m[1], prev.line)
			}
			if !defaultCell.MatchString(cells[def]) && !strings.HasPrefix(cells[def], "—") {
				return nil, fmt.Errorf("line %d: the default of %s must start with a `value` or with —, got %q", j+1, m[1], cells[def])
			}
			rows[m[1]] = settingsRow{defaultCell: cells[def], line: j + 1}
		}
		i = j
	}
	if tables == 0 {
		return nil, fmt.Errorf("no settings table (a table after a line starting with %q)", settingsMarker)
	}
	return rows, nil
}

func isTableLine(s string) bool { return strings.HasPrefix(strings.TrimSpace(s), "|") }

// tableCells splits a table row on the pipes that are not escaped (\|).
func tableCells(line string) []string {
	line = strings.TrimSpace(line)
	line = strings.TrimPrefix(line, "|")
	if strings.HasSuffix(line, "|") && !strings.HasSuffix(line, `\|`) {
		line = line[:len(line)-1]
	}
	var cells []string
	var cell strings.Builder
	for i := 0; i < len(line); i++ {
		switch {
		case line[i] == '\\' && i+1 < len(line) && line[i+1] == '|':
			cell.WriteString(`\|`)
			i++
		case line[i] == '|':
			cells = append(cells, strings.TrimSpace(cell.String()))
			cell.Reset()
		default:
			cell.WriteByte(line[i])
		}
	}
	return append(cells, strings.TrimSpace(cell.String()))
}

func readSettingsTables(t *testing.T, path string) map[string]settingsRow {
	t.Helper()
	doc, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	rows, err := parseSettingsTables(string(doc))
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return rows
}

// TestSettingsDocumented keeps the configuration loader, the settings
// tables of docs/operations.md and the short table of README.md in
// agreement: docs/operations.md lists exactly the variables usersync reads,
// each default as documented is the loader's default, and README.md lists
// some of them (those a newcomer sets first), each with the same default.
func TestSettingsDocumented(t *testing.T) {
	read := testkit.ConfigVariables(t)
	ops := readSettingsTables(t, "../docs/operations.md")
	readme := readSettingsTables(t, "../README.md")

	for _, name := range read {
		if _, ok := ops[name]; !ok {
			t.Errorf("usersync reads %s, which docs/operations.md does not list: add a row to its settings tables", name)
		}
	}
	for name, row := range ops {
		if !slices.Contains(read, name) {
			t.Errorf("docs/operations.md:%d lists %s, which usersync never reads", row.line, name)
		}
	}
	for name, row := range readme {
		switch full, ok := ops[name]; {
		case !ok:
			t.Errorf("README.md:%d lists %s, which docs/operations.md does not", row.line, name)
		case row.defaultCell != full.defaultCell:
			t.Errorf("README.md:%d gives %s the default %q, docs/operations.md:%d %q", row.line, name, row.defaultCell, full.line, full.defaultCell)
		}
	}

	// Setting a variable to its documented default changes nothing.
	unset, err := app.LoadConfig(testkit.Env(nil))
	if err != nil {
		t.Fatal(err)
	}
	for name, row := range ops {
		value, ok := row.defaultValue()
		if !ok {
			continue
		}
		cfg, err := app.LoadConfig(testkit.Env(map[string]string{name: value}))
		switch {
		case err != nil:
			t.Errorf("docs/operations.md:%d: the default of %s, %q, is not a valid value: %v", row.line, name, value, err)
		case !reflect.DeepEqual(cfg, unset):
			t.Errorf("docs/operations.md:%d: %s=%s is not the default:\n set: %+v\nunset: %+v", row.line, name, value, cfg, unset)
		}
	}
}

// TestSettingsTableParser: the parser finds the rows it should and refuses
// the tables whose rows it would misread, rather than skip them.
func TestSettingsTableParser(t *testing.T) {
	const good = "# Settings\n\n<!-- settings: checked -->\n" +
		"| variable | meaning | default |\n|---|---|---|\n" +
		"| `ADDR` | listen address | `:8000` |\n" +
		"| `LOG_LEVEL` | `debug\\|info` | `info` |\n" +
		"| `PORT` | a port | — (unset) |\n\n" +
		"Text.\n\n<!-- settings -->\n| variable | default |\n|:--|--:|\n| `ADMIN_TOKEN` | — |\n"
	rows, err := parseSettingsTables(good)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for name, row := range rows {
		v, _ := row.defaultValue()
		got[name] = v
	}
	want := map[string]string{"ADDR": ":8000", "LOG_LEVEL": "info", "PORT": "", "ADMIN_TOKEN": ""}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("rows = %v, want %v", got, want)
	}

	const table = "<!-- settings -->\n| variable | meaning | default |\n|---|---|---|\n"
	for _, tc := range []struct{ name, doc, want string }{
		{"no marker", "| variable | meaning | default |\n|---|---|---|\n| `ADDR` | a | `:8000` |\n", "no settings table"},
		{"no table", "<!-- settings -->\nText.\n", "must be followed by a Markdown table"},
		{"no separator", "<!-- settings -->\n| variable | meaning | default |\n| `ADDR` | a | `:8000` |\n", "must be followed by a Markdown table"},
		{"no default column", "<!-- settings -->\n| variable | meaning |\n|---|---|\n| `ADDR` | a |\n", "header"},
		{"two names in a cell", table + "| `RATE_LIMIT_RPS`, `RATE_LIMIT_BURST` | a | `10` |\n", "one variable in backticks"},
		{"no backticks", table + "| ADDR | a | `:8000` |\n", "one variable in backticks"},
		{"unescaped pipe", table + "| `LOG_LEVEL` | debug|info | `info` |\n", "4 cells, want 3"},
		{"twice", table + "| `ADDR` | a | `:8000` |\n| `ADDR` | b | `:8000` |\n", "listed twice"},
		{"bare default", table + "| `ADDR` | a | :8000 |\n", "must start with"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := parseSettingsTables(tc.doc)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error = %v, want one containing %q", err, tc.want)
			}
		})
	}
}
