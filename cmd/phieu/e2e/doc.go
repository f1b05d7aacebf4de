// Package e2e runs the phieu binary, built from the tree, against a real
// Postfix and Dovecot on 127.0.0.1 (scripts/mailstack): the proof that
// phieu works with the mail software provinces run, not only with the
// in-process servers of the other tests.
//
// The suite runs when PHIEU_E2E=1, as the user who started the stack
// (root: Postfix's master runs as root). Without PHIEU_E2E it skips and
// says how to run it; with PHIEU_E2E=1 and no stack it fails. Require is
// that rule for other packages' tests against the same servers (the
// benchmarks' in cmd/phieu).
package e2e
