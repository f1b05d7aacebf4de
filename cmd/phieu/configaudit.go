package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"

	"github.com/phieu/phieu/store"
	"github.com/phieu/phieu/store/sqlite"
)

// Settings flattens the config into "section.key" → value, as the YAML
// names them, for the audit log's record of configuration changes. The
// config holds no secrets (passwords come from the environment or files),
// but a password hash is still a credential: it appears as a fingerprint,
// which changes when the password does.
func (c *Config) Settings() map[string]string {
	out := map[string]string{}
	flattenSettings(reflect.ValueOf(*c), "", out)
	return out
}

func flattenSettings(v reflect.Value, prefix string, out map[string]string) {
	switch v.Kind() {
	case reflect.Struct:
		t := v.Type()
		for i := range t.NumField() {
			f := t.Field(i)
			tag := strings.Split(f.Tag.Get("yaml"), ",")
			if !f.IsExported() || tag[0] == "-" {
				continue
			}
			key := prefix
			if tag[0] != "" { // ",inline" keeps the parent's prefix
				key = joinKey(prefix, tag[0])
			}
			flattenSettings(v.Field(i), key, out)
		}
	case reflect.Slice:
		for i := range v.Len() {
			flattenSettings(v.Index(i), joinKey(prefix, strconv.Itoa(i)), out)
		}
	default:
		value := fmt.Sprint(v.Interface())
		if strings.HasSuffix(prefix, "password_hash") && value != "" {
			sum := sha256.Sum256([]byte(value))
			value = "sha256:" + hex.EncodeToString(sum[:4])
		}
		out[prefix] = value
	}
}

func joinKey(prefix, key string) string {
	if prefix == "" {
		return key
	}
	return prefix + "." + key
}

// auditConfig records the configuration the daemon starts with and, when
// it differs from the last start's, writes what changed to the audit log.
func (m *Main) auditConfig(ctx context.Context, db *sqlite.DB, cfg *Config) error {
	source := configName(cfg)
	if abs, err := filepath.Abs(cfg.Path); cfg.Path != "" && err == nil {
		source = abs // the same file, whichever directory the daemon starts in
	}
	changed, err := sqlite.NewAuditService(db).RecordConfig(store.NewContextWithActor(ctx, m.cliActor()), source, cfg.Settings())
	if err != nil {
		return err
	}
	if len(changed) > 0 {
		m.Logger.Info("configuration changed since the last start; recorded in the audit log", "config", source, "keys", len(changed))
	}
	return nil
}
