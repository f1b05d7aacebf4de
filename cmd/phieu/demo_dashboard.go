package main

import (
	"context"
	"errors"
	"time"
)

// demoDashboard serves the dashboard over the demo's database, with the
// demo's simulated clock, and returns its address and how to stop it. It is
// the hook the web package plugs into once it is built.
func (m *Main) demoDashboard(ctx context.Context, cfgPath, dbPath string, clock func() time.Time) (url string, stop func(), err error) {
	return "", func() {}, errors.New("dashboard not built yet")
}
