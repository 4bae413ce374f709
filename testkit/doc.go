// Package testkit holds the fixtures every package's tests share: Clerk
// session tokens signed with real RSA keys, a local fake of Clerk's Backend
// API (JWKS, users), Clerk webhook events signed as Svix signs them, and
// the real server assembled by package app on a test database, with a
// small HTTP client. It is for tests only; nothing in the service imports it.
package testkit
