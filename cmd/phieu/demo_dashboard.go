package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"time"

	"github.com/phieu/phieu/cmd/phieu/web"
	"github.com/phieu/phieu/store/sqlite"
)

// demoDashboard serves the dashboard over the demo's database on a random
// loopback port, its clock frozen at the simulation's end (so the countdown
// and the trend read as on that day), with a fresh operator token: the demo
// has no accounts, and a token printed once is the least a newcomer has to
// type. It returns the address, the token and how to stop it.
func (m *Main) demoDashboard(ctx context.Context, cfgPath, dbPath string, clock func() time.Time) (url, token string, stop func(), err error) {
	cfg, err := ReadConfigFile(cfgPath)
	if err != nil {
		return "", "", nil, err
	}
	secret, err := m.loadSecret(&cfg)
	if err != nil {
		return "", "", nil, err
	}
	db := sqlite.NewDB(dbPath)
	db.Now = clock
	db.LinkKey = linkKey(secret)
	if err := db.Open(); err != nil {
		return "", "", nil, fmt.Errorf("open store %s: %w", dbPath, err)
	}
	var b [16]byte
	rand.Read(b[:])
	token = hex.EncodeToString(b[:])
	srv, err := web.NewServer(web.Config{
		Addr:       "127.0.0.1:0",
		DB:         db,
		Tokens:     map[string]web.Role{token: web.RoleOperator},
		SessionKey: sessionKey(secret),
		Location:   configLocation(&cfg),
		Now:        clock, // sessions and sign-in backoff keep the wall clock (web.Config.RealNow)
		Logger:     m.Logger,
	})
	if err == nil {
		err = srv.Open()
	}
	if err != nil {
		db.Close()
		return "", "", nil, fmt.Errorf("dashboard: %w", err)
	}
	return srv.URL() + "/", token, func() { srv.Close(); db.Close() }, nil
}
