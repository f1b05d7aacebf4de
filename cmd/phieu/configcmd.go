package main

import (
	"context"
	"flag"
	"fmt"
	"os"
)

const configCheckHelp = `
Reads the config file (--config FILE, else $PHIEU_CONFIG, else ./phieu.yaml)
and prints every problem as FILE:LINE:COL: message: unknown keys, wrong
types, bad ports or TLS modes, unreadable CA or password files, unset
password variables. Secrets are never printed. Exits 1 if there is any
problem.`

// ConfigCheckCommand validates the config.
type ConfigCheckCommand struct {
	noArgs
	m      *Main
	config configFlag
}

func (c *ConfigCheckCommand) flags(fs *flag.FlagSet) { c.config.register(fs) }

// Run validates and reports.
func (c *ConfigCheckCommand) Run(ctx context.Context) error {
	path, _ := FindConfigPath(c.config.path)
	cfg, err := c.m.loadConfig(c.config)
	if err != nil {
		return err
	}
	if cfg.Path == "" {
		fmt.Fprintf(c.m.Stdout, "no config file (%s not found, not named by --config or $PHIEU_CONFIG): using the built-in defaults\n", path)
	} else {
		fmt.Fprintf(c.m.Stdout, "%s: ok\n", cfg.Path)
	}
	fmt.Fprintf(c.m.Stdout, "  store: %s\n  smtp:  %s:%d (tls %s)\n  imap:  %s:%d (tls %s)\n  http:  %s\n",
		cfg.Resolve(cfg.Store.Path), cfg.SMTP.Host, cfg.SMTP.Port, cfg.SMTP.TLS, cfg.IMAP.Host, cfg.IMAP.Port, cfg.IMAP.TLS, cfg.HTTP.Listen)
	secret := cfg.Resolve(cfg.SecretFile)
	switch _, err := os.Stat(secret); {
	case c.m.Getenv("PHIEU_SECRET") != "":
		fmt.Fprintf(c.m.Stdout, "  secret: from $PHIEU_SECRET\n")
	case err == nil:
		fmt.Fprintf(c.m.Stdout, "  secret: %s\n", secret)
	default:
		fmt.Fprintf(c.m.Stdout, "  secret: %s (created on first send)\n", secret)
	}
	return nil
}
