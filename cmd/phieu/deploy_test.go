package main

import (
	"bufio"
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/phieu/phieu/mailer/smtptest"
	"github.com/phieu/phieu/poller/imaptest"
)

// The deployment files of docs/deploy.md, from this package's directory.
const (
	unitPath          = "../../docs/systemd/phieu.service"
	backupUnitPath    = "../../docs/systemd/phieu-backup.service"
	backupTimerPath   = "../../docs/systemd/phieu-backup.timer"
	envExamplePath    = "../../docs/systemd/phieu.env.example"
	adminScriptPath   = "../../docs/systemd/phieu-admin"
	installScriptPath = "../../scripts/install-systemd"
)

var exampleConfigs = []string{"../../docs/examples/zimbra.yaml", "../../docs/examples/exchange.yaml"}

// unitFile is a systemd unit: section -> key -> values, in file order
// (a key may repeat, as SystemCallFilter= does).
type unitFile map[string]map[string][]string

// get returns the last value of a key ("" if absent) and whether it is set.
func (u unitFile) get(section, key string) (string, bool) {
	vs := u[section][key]
	if len(vs) == 0 {
		return "", false
	}
	return vs[len(vs)-1], true
}

// readUnit parses the [Section] and Key=Value lines of a unit file, with
// systemd's comments and backslash continuations; anything else fails.
func readUnit(t *testing.T, path string) unitFile {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	u := unitFile{}
	section := ""
	lines := strings.Split(string(data), "\n")
	for i := 0; i < len(lines); i++ {
		n, line := i+1, strings.TrimSpace(lines[i])
		for strings.HasSuffix(line, "\\") && i+1 < len(lines) {
			i++
			line = strings.TrimSuffix(line, "\\") + " " + strings.TrimSpace(lines[i])
		}
		switch {
		case line == "" || line[0] == '#' || line[0] == ';':
		case strings.HasPrefix(line, "[") && strings.HasSuffix(line, "]"):
			section = line[1 : len(line)-1]
			if u[section] != nil {
				t.Fatalf("%s:%d: section [%s] twice", path, n, section)
			}
			u[section] = map[string][]string{}
		case section == "":
			t.Fatalf("%s:%d: %q before any [Section]", path, n, line)
		default:
			key, value, ok := strings.Cut(line, "=")
			key = strings.TrimSpace(key)
			if !ok || key == "" || strings.ContainsAny(key, " \t") {
				t.Fatalf("%s:%d: %q is not Key=Value", path, n, line)
			}
			u[section][key] = append(u[section][key], strings.TrimSpace(value))
		}
	}
	return u
}

var timespanRE = regexp.MustCompile(`\s*(\d+)\s*([a-z]*)`)

// parseTimespan reads a systemd time span: "3min", "90s", "1h 30min", or a
// bare number of seconds.
func parseTimespan(s string) (time.Duration, error) {
	units := map[string]time.Duration{"": time.Second, "ms": time.Millisecond, "s": time.Second, "sec": time.Second,
		"m": time.Minute, "min": time.Minute, "h": time.Hour, "hr": time.Hour, "d": 24 * time.Hour}
	parts := timespanRE.FindAllStringSubmatch(s, -1)
	if len(parts) == 0 || strings.TrimSpace(timespanRE.ReplaceAllString(s, "")) != "" {
		return 0, fmt.Errorf("%q is not a time span", s)
	}
	var d time.Duration
	for _, p := range parts {
		n, _ := strconv.Atoi(p[1])
		unit, ok := units[p[2]]
		if !ok {
			return 0, fmt.Errorf("%q: unknown unit %q", s, p[2])
		}
		d += time.Duration(n) * unit
	}
	return d, nil
}

// readEnvFile reads an EnvironmentFile as systemd does, for the subset
// phieu.env uses: comments, NAME=value and NAME='value' (taken literally).
// Double quotes, whose escapes differ between systemd and the shell that
// phieu-admin uses, are refused.
func readEnvFile(t *testing.T, path string) (names []string, env map[string]string) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	env = map[string]string{}
	nameRE := regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
	for i, line := range strings.Split(string(data), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || line[0] == '#' || line[0] == ';' {
			continue
		}
		name, value, ok := strings.Cut(line, "=")
		if !ok || !nameRE.MatchString(name) {
			t.Fatalf("%s:%d: %q is not NAME=value", path, i+1, line)
		}
		switch {
		case strings.HasPrefix(value, "'"):
			end := strings.IndexByte(value[1:], '\'')
			if end < 0 || strings.TrimSpace(value[end+2:]) != "" {
				t.Fatalf("%s:%d: the value of %s is not one '...' string", path, i+1, name)
			}
			value = value[1 : end+1]
		case strings.ContainsAny(value, `"\`):
			t.Fatalf("%s:%d: write the value of %s in single quotes", path, i+1, name)
		}
		if _, dup := env[name]; dup {
			t.Fatalf("%s:%d: %s is set twice", path, i+1, name)
		}
		names = append(names, name)
		env[name] = value
	}
	return names, env
}

// exampleTimeout is the longest daemon.shutdown_timeout of the examples.
func exampleTimeout(t *testing.T) time.Duration {
	t.Helper()
	var longest time.Duration
	for _, path := range exampleConfigs {
		cfg, err := ReadConfigFile(path)
		if err != nil {
			t.Fatal(err)
		}
		d, err := time.ParseDuration(cfg.Daemon.ShutdownTimeout)
		if err != nil {
			t.Fatalf("%s: daemon.shutdown_timeout: %v", path, err)
		}
		longest = max(longest, d)
	}
	return longest
}

// exampleIn copies an example config into a new directory, with the CA
// file it names beside it unless withoutCA.
func exampleIn(t *testing.T, example string, withoutCA bool) string {
	t.Helper()
	data, err := os.ReadFile(example)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "phieu.yaml")
	if err := os.WriteFile(path, data, 0o640); err != nil {
		t.Fatal(err)
	}
	if !withoutCA {
		if err := os.WriteFile(filepath.Join(dir, "ca-tinh.pem"), []byte("-----BEGIN CERTIFICATE-----\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return path
}

// TestDeployExampleConfigs checks the Zimbra and Exchange examples the way
// an installer does: they pass `phieu config check` once the variables
// they name are set and their CA file is in place, and each missing piece
// is reported at its key.
func TestDeployExampleConfigs(t *testing.T) {
	t.Setenv("PHIEU_CONFIG", "")
	for _, example := range exampleConfigs {
		t.Run(filepath.Base(example), func(t *testing.T) {
			const smtpPassword, imapPassword = "Gửi#1 $HOME 'x", "doc#2 $PATH"
			t.Setenv("PHIEU_SMTP_PASSWORD", smtpPassword)
			t.Setenv("PHIEU_IMAP_PASSWORD", imapPassword)
			t.Setenv("PHIEU_SECRET", strings.Repeat("5e", 32))
			path := exampleIn(t, example, false)
			out := mustRun(t, "", "config", "check", "--config", path)
			for _, want := range []string{path + ": ok", "store: /var/lib/phieu/phieu.db", ":587 (tls starttls)", ":993 (tls tls)", "secret: from $PHIEU_SECRET"} {
				if !strings.Contains(out, want) {
					t.Errorf("config check lacks %q:\n%s", want, out)
				}
			}
			source, _ := os.ReadFile(path)
			lines := strings.Split(string(source), "\n")
			// keyAt reports whether a problem is positioned on the line
			// holding want.
			keyAt := func(problem, want string) bool {
				m := regexp.MustCompile(`^` + regexp.QuoteMeta(path) + `:(\d+):\d+: `).FindStringSubmatch(problem)
				if m == nil {
					return false
				}
				n, _ := strconv.Atoi(m[1])
				return n <= len(lines) && strings.Contains(lines[n-1], want)
			}
			for _, v := range []struct{ name, key string }{{"PHIEU_SMTP_PASSWORD", "smtp"}, {"PHIEU_IMAP_PASSWORD", "imap"}} {
				t.Run("Missing"+v.name, func(t *testing.T) {
					t.Setenv(v.name, "")
					code, out, errs := run(t, "", "config", "check", "--config", path)
					want := v.key + ".password_env: the variable " + v.name + " is not set"
					if code != exitFailure || strings.Count(errs, "\n") != 1 || !strings.Contains(errs, want) || !keyAt(errs, "password_env: "+v.name) {
						t.Errorf("exit %d, want 1 and one problem %q at its key:\n%s%s", code, want, out, errs)
					}
					if strings.Contains(errs+out, smtpPassword) || strings.Contains(errs+out, imapPassword) {
						t.Errorf("a password is printed:\n%s%s", out, errs)
					}
				})
			}
			t.Run("MissingCAFile", func(t *testing.T) {
				path := exampleIn(t, example, true)
				code, _, errs := run(t, "", "config", "check", "--config", path)
				problems := strings.Split(strings.TrimSpace(errs), "\n")
				if code != exitFailure || len(problems) != 2 || !strings.Contains(problems[0], "smtp.ca_file: cannot read "+filepath.Join(filepath.Dir(path), "ca-tinh.pem")) ||
					!strings.Contains(problems[1], "imap.ca_file: cannot read") {
					t.Errorf("exit %d, want the two ca_file keys named:\n%s", code, errs)
				}
			})
		})
	}
}

// TestDeployEnvExample: the env file holds exactly the variables the
// example configs read, plus PHIEU_SECRET, and no value.
func TestDeployEnvExample(t *testing.T) {
	names, env := readEnvFile(t, envExamplePath)
	want := []string{"PHIEU_SECRET"}
	for _, path := range exampleConfigs {
		cfg, err := ReadConfigFile(path)
		if err != nil {
			t.Fatal(err)
		}
		for _, v := range []string{cfg.SMTP.PasswordEnv, cfg.IMAP.PasswordEnv} {
			if v == "" {
				t.Errorf("%s: a server without password_env", path)
			} else if !slices.Contains(want, v) {
				want = append(want, v)
			}
		}
		if cfg.SMTP.PasswordFile != "" || cfg.IMAP.PasswordFile != "" {
			t.Errorf("%s: password_file in an example that keeps its passwords in phieu.env", path)
		}
	}
	slices.Sort(names)
	slices.Sort(want)
	if !slices.Equal(names, want) {
		t.Errorf("%s sets %v, want %v", envExamplePath, names, want)
	}
	for name, value := range env {
		if value != "" {
			t.Errorf("%s: %s has a value in the example", envExamplePath, name)
		}
	}
}

// parseExecStart parses the arguments of a unit's ExecStart with phieu's
// own ParseFlags and returns the subcommand it picked.
func parseExecStart(t *testing.T, u unitFile) runner {
	t.Helper()
	execStart, _ := u.get("Service", "ExecStart")
	argv := strings.Fields(execStart)
	if len(argv) < 2 || argv[0] != "/usr/local/bin/phieu" {
		t.Fatalf("ExecStart=%s does not run /usr/local/bin/phieu", execStart)
	}
	m := NewMain()
	m.Stdout, m.Stderr = new(bytes.Buffer), new(bytes.Buffer)
	if err := m.ParseFlags(argv[1:]); err != nil {
		t.Fatalf("ExecStart=%s: %v", execStart, err)
	}
	return m.cmd
}

// TestDeployUnit reads the unit files as systemd would and checks what
// docs/deploy.md promises of them.
func TestDeployUnit(t *testing.T) {
	u := readUnit(t, unitPath)
	for _, want := range [][3]string{
		{"Service", "Type", "exec"},
		{"Service", "User", "phieu"},
		{"Service", "Group", "phieu"},
		{"Service", "WorkingDirectory", "/var/lib/phieu"},
		{"Service", "EnvironmentFile", "/etc/phieu/phieu.env"}, // no "-": a missing file stops the start
		{"Service", "Restart", "on-failure"},
		{"Service", "KillSignal", "SIGTERM"},
		{"Service", "NoNewPrivileges", "yes"},
		{"Service", "ProtectSystem", "strict"},
		{"Service", "ProtectHome", "yes"},
		{"Service", "PrivateTmp", "yes"},
		{"Service", "PrivateDevices", "yes"},
		{"Service", "RestrictAddressFamilies", "AF_INET AF_INET6 AF_UNIX"},
		{"Service", "CapabilityBoundingSet", ""},
		{"Service", "AmbientCapabilities", ""},
		{"Service", "UMask", "0077"},
		{"Unit", "Wants", "network-online.target"},
		{"Unit", "After", "network-online.target"},
		{"Install", "WantedBy", "multi-user.target"},
	} {
		if got, ok := u.get(want[0], want[1]); !ok || got != want[2] {
			t.Errorf("[%s] %s=%q, want %q", want[0], want[1], got, want[2])
		}
	}
	for _, key := range [][2]string{{"Service", "RestartSec"}, {"Unit", "StartLimitIntervalSec"}, {"Unit", "StartLimitBurst"}} {
		if v, ok := u.get(key[0], key[1]); !ok || v == "" {
			t.Errorf("[%s] %s is not set", key[0], key[1])
		}
	}
	run, ok := parseExecStart(t, u).(*RunCommand)
	if !ok || run.config.path != "/etc/phieu/phieu.yaml" || run.once || run.only != "" {
		t.Errorf("ExecStart parses to %#v, want phieu run --config /etc/phieu/phieu.yaml", run)
	}

	// SIGTERM lets SMTP transactions finish within daemon.shutdown_timeout:
	// systemd must wait longer before it kills.
	v, _ := u.get("Service", "TimeoutStopSec")
	stop, err := parseTimespan(v)
	if err != nil {
		t.Fatalf("TimeoutStopSec: %v", err)
	}
	if shutdown := exampleTimeout(t); stop <= shutdown {
		t.Errorf("TimeoutStopSec=%s is not longer than the examples' daemon.shutdown_timeout %s", v, shutdown)
	}
	// The database of the examples is where the unit lets phieu write.
	for _, path := range exampleConfigs {
		cfg, err := ReadConfigFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if dir := filepath.Dir(cfg.Store.Path); !slices.Contains(strings.Fields(strings.Join(u["Service"]["ReadWritePaths"], " ")), dir) {
			t.Errorf("%s: store.path %s is outside the unit's ReadWritePaths %v", path, cfg.Store.Path, u["Service"]["ReadWritePaths"])
		}
		if host, _, _ := net.SplitHostPort(cfg.HTTP.Listen); host != "127.0.0.1" {
			t.Errorf("%s: http.listen %s is not on loopback", path, cfg.HTTP.Listen)
		}
	}

	b := readUnit(t, backupUnitPath)
	for _, want := range [][2]string{{"User", "phieu"}, {"Group", "phieu"}, {"Type", "oneshot"}, {"EnvironmentFile", "/etc/phieu/phieu.env"}, {"NoNewPrivileges", "yes"}, {"ProtectSystem", "strict"}} {
		if got, _ := b.get("Service", want[0]); got != want[1] {
			t.Errorf("%s: %s=%q, want %q", backupUnitPath, want[0], got, want[1])
		}
	}
	backup, ok := parseExecStart(t, b).(*BackupCommand)
	if !ok || backup.config.path != "/etc/phieu/phieu.yaml" || backup.target != "/var/backups/phieu/" {
		t.Errorf("%s: ExecStart parses to %#v, want phieu backup --config /etc/phieu/phieu.yaml /var/backups/phieu/", backupUnitPath, backup)
	}
	if rw := strings.Fields(strings.Join(b["Service"]["ReadWritePaths"], " ")); !slices.Contains(rw, "/var/lib/phieu") || !slices.Contains(rw, "/var/backups/phieu") {
		t.Errorf("%s: ReadWritePaths %v: the backup reads the database (its WAL index is written) and writes /var/backups/phieu", backupUnitPath, rw)
	}
	timer := readUnit(t, backupTimerPath)
	if v, ok := timer.get("Timer", "OnCalendar"); !ok || v == "" {
		t.Errorf("%s: no OnCalendar", backupTimerPath)
	}
}

// verifyCopies writes the unit files into dir with ExecStart's binary
// replaced by bin (systemd-analyze verify checks that it exists).
func verifyCopies(t *testing.T, dir, bin string) []string {
	t.Helper()
	var paths []string
	for _, src := range []string{unitPath, backupUnitPath, backupTimerPath} {
		data, err := os.ReadFile(src)
		if err != nil {
			t.Fatal(err)
		}
		dst := filepath.Join(dir, filepath.Base(src))
		if err := os.WriteFile(dst, bytes.ReplaceAll(data, []byte("/usr/local/bin/phieu "), []byte(bin+" ")), 0o644); err != nil {
			t.Fatal(err)
		}
		paths = append(paths, dst)
	}
	return paths
}

// TestDeploySystemdAnalyze runs systemd's own checks on the units: verify
// (unknown keys, bad values, missing binaries; it prints them and still
// exits 0, so any output is a failure) and the offline security review.
func TestDeploySystemdAnalyze(t *testing.T) {
	analyze, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Skip("systemd-analyze is not installed (apt-get install systemd): the units are checked by TestDeployUnit only")
	}
	// verify reports "Command /usr/local/bin/phieu is not executable" on a
	// machine where phieu is not installed: point ExecStart at a binary
	// that exists (this test binary) instead of ignoring warnings.
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	paths := verifyCopies(t, dir, self)
	out, err := exec.Command(analyze, append([]string{"verify", "--man=no"}, paths...)...).CombinedOutput()
	if err != nil || len(bytes.TrimSpace(out)) > 0 {
		t.Errorf("systemd-analyze verify: %v\n%s", err, out)
	}

	// The same check sees a mistake (so its silence above means something).
	broken := filepath.Join(t.TempDir(), "phieu.service")
	data, _ := os.ReadFile(paths[0])
	os.WriteFile(broken, bytes.Replace(data, []byte("ProtectSystem=strict"), []byte("ProtectSistem=strict"), 1), 0o644)
	if out, _ := exec.Command(analyze, "verify", "--man=no", broken).CombinedOutput(); !bytes.Contains(out, []byte("Unknown key 'ProtectSistem'")) {
		t.Errorf("systemd-analyze verify does not report a misspelt key:\n%s", out)
	}

	for _, unit := range paths[:2] {
		// --threshold is in tenths: 20 fails an exposure above 2.0.
		out, err := exec.Command(analyze, "security", "--offline=yes", "--threshold=20", unit).CombinedOutput()
		m := regexp.MustCompile(`Overall exposure level for \S+: (\d+\.\d+)`).FindSubmatch(out)
		if err != nil || m == nil {
			t.Errorf("systemd-analyze security %s (exposure must be at most 2.0): %v\n%s", filepath.Base(unit), err, out)
			continue
		}
		t.Logf("%s: exposure %s (systemd-analyze security; 0 is best, 10 worst)", filepath.Base(unit), m[1])
	}
}

// fileMode returns a file's permission bits and owner.
func fileMode(t *testing.T, path string) (os.FileMode, uint32, uint32) {
	t.Helper()
	info, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	st := info.Sys().(*syscall.Stat_t)
	return info.Mode().Perm(), st.Uid, st.Gid
}

// TestDeployInstallScript installs into a directory (--root) and checks
// every file the unit names is there with its mode; a second run keeps
// the config and the secret and puts a loosened mode back.
func TestDeployInstallScript(t *testing.T) {
	if _, err := exec.LookPath("bash"); err != nil {
		t.Skip("bash is not installed: scripts/install-systemd needs it")
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	root := t.TempDir()
	install := func(args ...string) (int, string) {
		cmd := exec.Command("bash", append([]string{installScriptPath, "--root", root}, args...)...)
		out, err := cmd.CombinedOutput()
		if err != nil && cmd.ProcessState == nil {
			t.Fatal(err)
		}
		return cmd.ProcessState.ExitCode(), string(out)
	}
	if code, out := install("--bin", self); code != 1 || !strings.Contains(out, "give --config FILE") {
		t.Errorf("a first install without --config: exit %d\n%s", code, out)
	}
	if code, out := install("--bogus"); code != 2 || !strings.Contains(out, "unknown argument --bogus") {
		t.Errorf("an unknown argument: exit %d\n%s", code, out)
	}
	if code, out := install("--bin", self, "--config", exampleConfigs[0]); code != 0 {
		t.Fatalf("install: exit %d\n%s", code, out)
	}
	for _, f := range []struct {
		path string
		mode os.FileMode
	}{
		{"usr/local/bin/phieu", 0o755},
		{"usr/local/sbin/phieu-admin", 0o755},
		{"etc/systemd/system/phieu.service", 0o644},
		{"etc/systemd/system/phieu-backup.service", 0o644},
		{"etc/systemd/system/phieu-backup.timer", 0o644},
		{"etc/phieu", 0o750},
		{"etc/phieu/phieu.yaml", 0o640},
		{"etc/phieu/phieu.env", 0o600},
		{"var/lib/phieu", 0o750},
		{"var/backups/phieu", 0o750},
	} {
		if mode, _, _ := fileMode(t, filepath.Join(root, f.path)); mode != f.mode {
			t.Errorf("%s: mode %o, want %o", f.path, mode, f.mode)
		}
	}
	for src, dst := range map[string]string{unitPath: "etc/systemd/system/phieu.service", exampleConfigs[0]: "etc/phieu/phieu.yaml", adminScriptPath: "usr/local/sbin/phieu-admin"} {
		want, _ := os.ReadFile(src)
		if got, _ := os.ReadFile(filepath.Join(root, dst)); !bytes.Equal(got, want) {
			t.Errorf("%s is not a copy of %s", dst, src)
		}
	}
	// What the installed unit names is where the script put it.
	u := readUnit(t, filepath.Join(root, "etc/systemd/system/phieu.service"))
	execStart, _ := u.get("Service", "ExecStart")
	env, _ := u.get("Service", "EnvironmentFile")
	wd, _ := u.get("Service", "WorkingDirectory")
	for _, p := range append(strings.Fields(execStart)[:1], env, wd, "/etc/phieu/phieu.yaml") {
		if _, err := os.Stat(filepath.Join(root, p)); err != nil {
			t.Errorf("the unit names %s: %v", p, err)
		}
	}
	envPath := filepath.Join(root, "etc/phieu/phieu.env")
	_, values := readEnvFile(t, envPath)
	if !regexp.MustCompile(`^[0-9a-f]{64}$`).MatchString(values["PHIEU_SECRET"]) {
		t.Errorf("PHIEU_SECRET=%q, want 64 random hex digits", values["PHIEU_SECRET"])
	}

	// Again, after the admin edited the config and loosened the env file.
	edited := []byte("# edited by the admin\n")
	os.WriteFile(filepath.Join(root, "etc/phieu/phieu.yaml"), edited, 0o644)
	os.Chmod(envPath, 0o644)
	if code, out := install("--config", exampleConfigs[1]); code != 0 || !strings.Contains(out, "kept /etc/phieu/phieu.yaml") || !strings.Contains(out, "kept /etc/phieu/phieu.env") {
		t.Fatalf("second install: exit %d\n%s", code, out)
	}
	if got, _ := os.ReadFile(filepath.Join(root, "etc/phieu/phieu.yaml")); !bytes.Equal(got, edited) {
		t.Errorf("the second install replaced the config")
	}
	if _, again := readEnvFile(t, envPath); again["PHIEU_SECRET"] != values["PHIEU_SECRET"] {
		t.Errorf("the second install changed PHIEU_SECRET")
	}
	for path, want := range map[string]os.FileMode{envPath: 0o600, filepath.Join(root, "etc/phieu/phieu.yaml"): 0o640} {
		if mode, _, _ := fileMode(t, path); mode != want {
			t.Errorf("%s: mode %o after the second install, want %o", path, mode, want)
		}
	}
}

// buildPhieu builds the phieu binary into dir.
func buildPhieu(t *testing.T, dir string) string {
	t.Helper()
	bin := filepath.Join(dir, "phieu")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	return bin
}

// requireRoot skips tests that switch users unless they can.
func requireRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("runs phieu as another user, which needs root (CI runs as root)")
	}
	if _, err := exec.LookPath("setpriv"); err != nil {
		t.Skip("setpriv (util-linux) is not installed: phieu-admin needs it")
	}
}

// TestDeployInstallScriptAsRoot runs scripts/install-systemd for real,
// inside a private mount namespace whose /etc, /usr/local/bin,
// /usr/local/sbin, /var/lib and /var/backups are copies: it creates the
// phieu user, sets owners, checks the config as that user and runs
// systemctl (a stand-in that records its arguments), and an upgrade backs
// up the database with the old binary first.
func TestDeployInstallScriptAsRoot(t *testing.T) {
	requireRoot(t)
	if err := exec.Command("unshare", "--mount", "--propagation", "private", "true").Run(); err != nil {
		t.Skipf("cannot make a private mount namespace (unshare --mount: %v): the install is tested with --root only", err)
	}
	base := t.TempDir()
	bin := buildPhieu(t, base)
	for _, d := range []string{"etc", "usr-local-bin", "usr-local-sbin", "var-lib", "var-backups", "fakebin"} {
		if err := os.Mkdir(filepath.Join(base, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if out, err := exec.Command("cp", "-a", "/etc/.", filepath.Join(base, "etc")).CombinedOutput(); err != nil {
		t.Fatalf("copy /etc: %v\n%s", err, out)
	}
	systemctlLog := filepath.Join(base, "systemctl.log")
	os.WriteFile(filepath.Join(base, "fakebin", "systemctl"), []byte("#!/bin/sh\necho \"$*\" >>"+systemctlLog+"\n"), 0o755)
	script, _ := filepath.Abs(installScriptPath)
	// inside runs a command with the copies mounted over the real paths;
	// set -e stops before the command if any mount fails.
	inside := func(args ...string) (int, string) {
		t.Helper()
		mounts := "set -e\n"
		for dir, over := range map[string]string{"etc": "/etc", "usr-local-bin": "/usr/local/bin", "usr-local-sbin": "/usr/local/sbin",
			"var-lib": "/var/lib", "var-backups": "/var/backups"} {
			mounts += fmt.Sprintf("mount --bind %s %s\n", filepath.Join(base, dir), over)
		}
		cmd := exec.Command("unshare", append([]string{"--mount", "--propagation", "private", "bash", "-c", mounts + `exec "$@"`, "inside"}, args...)...)
		cmd.Env = []string{"PATH=" + filepath.Join(base, "fakebin") + ":/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}
		out, err := cmd.CombinedOutput()
		if err != nil && cmd.ProcessState == nil {
			t.Fatal(err)
		}
		return cmd.ProcessState.ExitCode(), string(out)
	}
	systemctl := func() string { data, _ := os.ReadFile(systemctlLog); os.Remove(systemctlLog); return string(data) }

	// A first install: the passwords are not in phieu.env yet, so the
	// check fails and nothing is started.
	code, out := inside("bash", script, "--bin", bin, "--config", exampleConfigs[0])
	if code != 0 || !strings.Contains(out, "password_env: the variable PHIEU_SMTP_PASSWORD is not set") || !strings.Contains(out, "not started") {
		t.Fatalf("first install: exit %d\n%s", code, out)
	}
	if got := systemctl(); got != "daemon-reload\n" {
		t.Errorf("systemctl calls before the config passes: %q", got)
	}
	var uid, gid uint32
	passwd, _ := os.ReadFile(filepath.Join(base, "etc/passwd"))
	for _, line := range strings.Split(string(passwd), "\n") {
		f := strings.Split(line, ":")
		if f[0] != "phieu" {
			continue
		}
		u, _ := strconv.Atoi(f[2])
		g, _ := strconv.Atoi(f[3])
		uid, gid = uint32(u), uint32(g)
		if u == 0 || u >= 1000 || f[5] != "/var/lib/phieu" || !strings.HasSuffix(f[6], "/nologin") {
			t.Errorf("phieu user: %q, want a system user with home /var/lib/phieu and no login shell", line)
		}
	}
	if uid == 0 {
		t.Fatalf("no phieu user in the namespace's /etc/passwd:\n%s", out)
	}
	for _, f := range []struct {
		path     string
		mode     os.FileMode
		uid, gid uint32
	}{
		{"etc/phieu", 0o750, 0, gid},
		{"etc/phieu/phieu.yaml", 0o640, 0, gid},
		{"etc/phieu/phieu.env", 0o600, 0, 0},
		{"var-lib/phieu", 0o750, uid, gid},
		{"var-backups/phieu", 0o750, uid, gid},
		{"usr-local-bin/phieu", 0o755, 0, 0},
		{"usr-local-sbin/phieu-admin", 0o755, 0, 0},
		{"etc/systemd/system/phieu.service", 0o644, 0, 0},
	} {
		if mode, u, g := fileMode(t, filepath.Join(base, f.path)); mode != f.mode || u != f.uid || g != f.gid {
			t.Errorf("%s: mode %o owner %d:%d, want %o %d:%d", f.path, mode, u, g, f.mode, f.uid, f.gid)
		}
	}

	// The admin adds the passwords and the CA; installing again starts it.
	envPath := filepath.Join(base, "etc/phieu/phieu.env")
	data, _ := os.ReadFile(envPath)
	data = bytes.Replace(data, []byte("PHIEU_SMTP_PASSWORD=''"), []byte("PHIEU_SMTP_PASSWORD='Gửi#1 $HOME'"), 1)
	data = bytes.Replace(data, []byte("PHIEU_IMAP_PASSWORD=''"), []byte("PHIEU_IMAP_PASSWORD='doc#2 $PATH'"), 1)
	os.WriteFile(envPath, data, 0o600)
	os.WriteFile(filepath.Join(base, "etc/phieu/ca-tinh.pem"), []byte("-----BEGIN CERTIFICATE-----\n"), 0o644)
	code, out = inside("bash", script)
	if code != 0 || !strings.Contains(out, "/etc/phieu/phieu.yaml: ok") || !strings.Contains(out, "phieu is running") {
		t.Fatalf("second install: exit %d\n%s", code, out)
	}
	if got, want := systemctl(), "daemon-reload\nenable phieu.service phieu-backup.timer\nrestart phieu.service\nstart phieu-backup.timer\n"; got != want {
		t.Errorf("systemctl calls: %q, want %q", got, want)
	}

	// phieu-admin runs as phieu: the database it creates is phieu's.
	if code, out := inside("phieu-admin", "campaign", "list"); code != 0 {
		t.Fatalf("phieu-admin campaign list: exit %d\n%s", code, out)
	}
	if mode, u, _ := fileMode(t, filepath.Join(base, "var-lib/phieu/phieu.db")); u != uid || mode&0o077 != 0 {
		t.Errorf("phieu.db made by phieu-admin: mode %o owner %d, want phieu's (%d) and no access for others", mode, u, uid)
	}
	// An upgrade backs the database up with the binary still installed.
	code, out = inside("bash", script, "--bin", bin)
	backups, _ := filepath.Glob(filepath.Join(base, "var-backups/phieu/phieu-*.db"))
	if code != 0 || !strings.Contains(out, "integrity ok") || len(backups) != 1 {
		t.Fatalf("upgrade: exit %d, backups %v\n%s", code, backups, out)
	}
	if _, u, _ := fileMode(t, backups[0]); u != uid {
		t.Errorf("the backup belongs to %d, not phieu (%d)", u, uid)
	}
}

// deployedSample is a province installed the way docs/deploy.md lays it
// out, under one directory: etc/ (root, group-readable by the daemon's
// group), var/ (the daemon's) and bin/phieu, with a campaign open now in
// real time (the binary runs on the real clock) and servers that require
// the passwords of etc/phieu.env.
type deployedSample struct {
	base, config, envFile, bin, varDir, health string
	smtp                                       *smtptest.Server
	imap                                       *imaptest.Server
	env                                        map[string]string // etc/phieu.env, as systemd reads it
}

const (
	deployUser         = "khaosat.snv@binhson.gov.test"
	deploySMTPPassword = "Gửi#1 $HOME x"
	deployIMAPPassword = "doc#2 $PATH"
)

func newDeployedSample(t *testing.T, uid, gid int) *deployedSample {
	t.Helper()
	t.Setenv("PHIEU_CONFIG", "")
	// t.TempDir's parents are 0700: the daemon's user could not reach it.
	base, err := os.MkdirTemp("", "phieu-deploy-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(base) })
	s := &deployedSample{base: base, config: filepath.Join(base, "etc", "phieu.yaml"), envFile: filepath.Join(base, "etc", "phieu.env"),
		varDir: filepath.Join(base, "var")}
	for dir, mode := range map[string]os.FileMode{base: 0o755, filepath.Join(base, "bin"): 0o755, filepath.Join(base, "etc"): 0o750} {
		if err := os.MkdirAll(dir, mode); err != nil {
			t.Fatal(err)
		}
		os.Chmod(dir, mode)
	}
	os.Chown(filepath.Join(base, "etc"), 0, gid)
	s.bin = buildPhieu(t, filepath.Join(base, "bin"))

	s.smtp = smtptest.Start(t, smtptest.Options{DSN: true, Auth: map[string]string{deployUser: deploySMTPPassword}})
	s.imap, err = imaptest.Start(imaptest.Options{Username: deployUser, Password: deployIMAPPassword})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.imap.Close() })
	s.health = freeLoopbackAddr(t)
	config := fmt.Sprintf(`store:
  path: %s
secret_file: %s
smtp:
  host: 127.0.0.1
  port: %d
  tls: none
  username: %s
  password_env: PHIEU_SMTP_PASSWORD
  per_minute: 0
  per_hour: 0
imap:
  host: 127.0.0.1
  port: %d
  tls: none
  username: %s
  password_env: PHIEU_IMAP_PASSWORD
http:
  listen: %s
daemon:
  send: "@every 2s"
  poll: "@every 2s"
  shutdown_timeout: 2m
`, filepath.Join(s.varDir, "phieu.db"), filepath.Join(base, "etc", "phieu.secret"), s.smtp.Port, deployUser, s.imap.Port, deployUser, s.health)
	if err := os.WriteFile(s.config, []byte(config), 0o640); err != nil {
		t.Fatal(err)
	}
	os.Chown(s.config, 0, gid)
	env := fmt.Sprintf("# as docs/systemd/phieu.env.example\nPHIEU_SECRET='%s'\nPHIEU_SMTP_PASSWORD='%s'\nPHIEU_IMAP_PASSWORD='%s'\n",
		strings.Repeat("d1", 32), deploySMTPPassword, deployIMAPPassword)
	if err := os.WriteFile(s.envFile, []byte(env), 0o600); err != nil {
		t.Fatal(err)
	}
	_, s.env = readEnvFile(t, s.envFile)

	// The province and a campaign open since yesterday, set up by the
	// operator (in-process here, then handed to the daemon's user).
	for k, v := range s.env {
		t.Setenv(k, v)
	}
	mustRun(t, "", "init", s.varDir)
	os.Remove(filepath.Join(s.varDir, "phieu.yaml"))
	campaign := filepath.Join(s.varDir, "campaign.yaml")
	data, err := os.ReadFile(campaign)
	if err != nil {
		t.Fatal(err)
	}
	vn, _ := time.LoadLocation("Asia/Ho_Chi_Minh")
	now := time.Now().In(vn)
	data = regexp.MustCompile(`(?m)^opens_at: .*$`).ReplaceAll(data, []byte(`opens_at: "`+now.AddDate(0, 0, -1).Format("02/01/2006 15:04")+`"`))
	data = regexp.MustCompile(`(?m)^deadline: .*$`).ReplaceAll(data, []byte(`deadline: "`+now.AddDate(0, 0, 30).Format("02/01/2006")+`"`))
	os.WriteFile(campaign, data, 0o644)
	for _, args := range [][]string{
		{"import", "units", filepath.Join(s.varDir, "units.csv")},
		{"import", "respondents", filepath.Join(s.varDir, "respondents.csv")},
		{"campaign", "create", "-f", campaign},
		{"campaign", "add-members", "PAR2025"},
	} {
		mustRun(t, "", append(args, "--config", s.config)...)
	}
	for k := range s.env {
		t.Setenv(k, "") // the child processes get them from etc/phieu.env only
	}
	if err := filepath.Walk(s.varDir, func(path string, _ os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		return os.Chown(path, uid, gid)
	}); err != nil {
		t.Fatal(err)
	}
	os.Chmod(s.varDir, 0o750)
	return s
}

// TestDeployRunsUnprivileged runs the unit's command for real, as the
// unprivileged user nobody: phieu-admin starts the campaign (reading the
// secret and passwords from the root-only env file), then the daemon,
// started with the unit's ExecStart, WorkingDirectory and
// EnvironmentFile, reads a reply and sends the receipt, and stops cleanly
// on SIGTERM. Without PHIEU_SECRET it refuses to start rather than make
// a secret of its own.
func TestDeployRunsUnprivileged(t *testing.T) {
	requireRoot(t)
	nobody, err := user.Lookup("nobody")
	if err != nil {
		t.Skip("no user nobody to run phieu as")
	}
	nogroup, err := user.LookupGroup("nogroup")
	if err != nil {
		if nogroup, err = user.LookupGroup("nobody"); err != nil {
			t.Skip("no group nogroup or nobody to run phieu as")
		}
	}
	uid, _ := strconv.Atoi(nobody.Uid)
	gid, _ := strconv.Atoi(nogroup.Gid)
	s := newDeployedSample(t, uid, gid)

	admin := func(args ...string) (int, string) {
		t.Helper()
		cmd := exec.Command("sh", append([]string{adminScriptPath}, args...)...)
		cmd.Env = []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "PHIEU_ADMIN_USER=nobody", "PHIEU_ADMIN_GROUP=" + nogroup.Name,
			"PHIEU_ADMIN_BIN=" + s.bin, "PHIEU_ADMIN_ENV=" + s.envFile, "PHIEU_ADMIN_CONFIG=" + s.config, "PHIEU_ADMIN_HOME=" + s.varDir}
		out, err := cmd.CombinedOutput()
		if err != nil && cmd.ProcessState == nil {
			t.Fatal(err)
		}
		return cmd.ProcessState.ExitCode(), string(out)
	}
	if code, out := admin("config", "check"); code != 0 || !strings.Contains(out, "secret: from $PHIEU_SECRET") {
		t.Fatalf("phieu-admin config check: exit %d\n%s", code, out)
	}
	if code, out := admin("send", "--campaign", "PAR2025", "--wait", "0", "--progress=false"); code != 0 || !strings.Contains(out, "sent 120,") {
		t.Fatalf("phieu-admin send: exit %d\n%s", code, out)
	}
	sent := s.smtp.Received()
	if len(sent) != 120 || sent[0].Auth != deployUser {
		t.Fatalf("%d messages received, the first authenticated as %q", len(sent), sent[0].Auth)
	}
	if _, owner, _ := fileMode(t, filepath.Join(s.varDir, "phieu.db.send-lock")); owner != uint32(uid) {
		t.Errorf("phieu-admin send ran as %d, not nobody (%d)", owner, uid)
	}

	u := readUnit(t, unitPath)
	execStart, _ := u.get("Service", "ExecStart")
	argv := strings.Fields(strings.ReplaceAll(execStart, "/etc/phieu/phieu.yaml", s.config))
	argv[0] = s.bin
	unitCommand := func(env map[string]string) *exec.Cmd {
		cmd := exec.Command(argv[0], argv[1:]...)
		cmd.Dir = s.varDir // WorkingDirectory
		cmd.Env = []string{"PATH=/usr/bin:/bin", "HOME=" + s.varDir}
		for k, v := range env {
			cmd.Env = append(cmd.Env, k+"="+v)
		}
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid), Groups: []uint32{}}}
		return cmd
	}

	// Without PHIEU_SECRET: a loud stop, and no secret file of its own.
	noSecret := map[string]string{}
	for k, v := range s.env {
		if k != "PHIEU_SECRET" {
			noSecret[k] = v
		}
	}
	if out, err := unitCommand(noSecret).CombinedOutput(); err == nil || !strings.Contains(string(out), "secret file") {
		t.Errorf("the daemon without PHIEU_SECRET: %v\n%s", err, out)
	}
	if _, err := os.Stat(filepath.Join(s.base, "etc", "phieu.secret")); err == nil {
		t.Errorf("the daemon made a secret file of its own")
	}

	// A member replies before the daemon starts.
	inv := sent[0]
	reply, err := imaptest.Reply{From: inv.To[0], To: deployUser, Subject: inv.Header.Get("Subject"), InReplyTo: inv.Header.Get("Message-Id"),
		Date: time.Now(), Text: "C1: 8\nC2: 7\nC3: 9\nC4: B\nC5: 8\nC6: A\nC7: 6"}.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	if err := s.imap.Append("INBOX", reply); err != nil {
		t.Fatal(err)
	}
	cmd := unitCommand(s.env)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	defer func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
			<-exited
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	got, err := s.smtp.WaitReceived(ctx, 121)
	if err != nil {
		t.Fatalf("no receipt from the daemon: %v\n%s", err, stderr.String())
	}
	if receipt := got[120]; receipt.To[0] != inv.To[0] || receipt.Auth != deployUser {
		t.Errorf("121st message to %v authenticated as %q, want the receipt to %s", receipt.To, receipt.Auth, inv.To[0])
	}
	resp, err := http.Get("http://" + s.health + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	body := new(bytes.Buffer)
	body.ReadFrom(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(body.String(), `"status":"ok"`) {
		t.Errorf("/healthz: %d %s", resp.StatusCode, body)
	}
	if _, owner, _ := fileMode(t, filepath.Join(s.varDir, "phieu.db.daemon-lock")); owner != uint32(uid) {
		t.Errorf("the daemon's lock file belongs to %d, not nobody", owner)
	}

	// systemctl stop: SIGTERM, and the daemon exits 0 well within
	// TimeoutStopSec.
	cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-exited:
		if err != nil || !strings.Contains(stderr.String(), "stopping") {
			t.Errorf("after SIGTERM: %v\n%s", err, stderr.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("the daemon did not stop within 30 s of SIGTERM\n%s", stderr.String())
	}
}

// freeLoopbackAddr returns a 127.0.0.1 address nothing listens on.
func freeLoopbackAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// startDaemon runs "phieu run --config config" in-process on a clock
// stopped at now; stop interrupts it as Ctrl-C does and returns its exit
// code and log.
func startDaemon(t *testing.T, config string, now time.Time) (stop func() (int, string)) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int, 1)
	var errb bytes.Buffer
	m := NewMain()
	m.Stdout, m.Stderr = new(bytes.Buffer), &errb
	m.Now = func() time.Time { return now }
	go func() { done <- m.Main(ctx, []string{"run", "--config", config}) }()
	return func() (int, string) {
		t.Helper()
		cancel()
		select {
		case code := <-done:
			return code, errb.String()
		case <-time.After(30 * time.Second):
			t.Fatal("the daemon did not stop within 30 s of Ctrl-C")
			return 0, ""
		}
	}
}

// TestDeployBackupRestore follows docs/deploy.md: a backup taken while the
// daemon runs, the database lost, the backup copied back. The restored
// store is intact, shows the same campaign and responses, and the daemon
// started on it sends nothing twice.
func TestDeployBackupRestore(t *testing.T) {
	dir, smtp, imap := sampleWithServers(t)
	health := freeLoopbackAddr(t)
	editConfig(t, dir, func(s string) string { return strings.Replace(s, "listen: 127.0.0.1:8470", "listen: "+health, 1) })
	config := filepath.Join(dir, "phieu.yaml")
	during := time.Date(2026, 12, 2, 2, 0, 0, 0, time.UTC)
	mustRunAt(t, "", during, "send", "--config", config, "--campaign", "PAR2025", "--limit", "10", "--wait", "0")
	inv := smtp.Received()[0]
	reply, err := imaptest.Reply{From: inv.To[0], To: "khaosat.snv@binhson.gov.test", Subject: inv.Header.Get("Subject"),
		InReplyTo: inv.Header.Get("Message-Id"), Text: "C1: 8\nC2: 7\nC3: 9\nC4: B\nC5: 8\nC6: A\nC7: 6"}.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	mustAppend(t, imap, reply, during)

	// The daemon invites the rest and answers the reply with a receipt.
	stop := startDaemon(t, config, during)
	wait, cancelWait := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancelWait()
	if _, err := smtp.WaitReceived(wait, 121); err != nil {
		code, errs := stop()
		t.Fatalf("the daemon did not send 110 invitations and a receipt: %v (exit %d)\n%s", err, code, errs)
	}
	waitCaughtUp(t, health)
	show := mustRunAt(t, "", during, "campaign", "show", "PAR2025", "--config", config)
	responses := mustRunAt(t, "", during, "responses", "list", "--campaign", "PAR2025", "--config", config)
	if !strings.Contains(responses, "counted") {
		t.Fatalf("no counted response before the backup:\n%s", responses)
	}
	backup := filepath.Join(t.TempDir(), "backups") + string(os.PathSeparator)
	if out := mustRunAt(t, "", during, "backup", "--config", config, backup); !strings.Contains(out, "integrity ok") {
		t.Errorf("backup: %s", out)
	}
	if code, errs := stop(); code != exitOK {
		t.Errorf("daemon: exit %d\n%s", code, errs)
	}
	copies, _ := filepath.Glob(filepath.Join(backup, "phieu-*.db"))
	if len(copies) != 1 {
		t.Fatalf("backups: %v", copies)
	}

	// The database is lost: overwritten, its WAL gone.
	db := filepath.Join(dir, "phieu.db")
	os.WriteFile(db, bytes.Repeat([]byte("hỏng "), 4096), 0o600)
	os.Remove(db + "-wal")
	os.Remove(db + "-shm")
	if code, _, errs := runAt(t, "", during, "campaign", "show", "PAR2025", "--config", config); code != exitFailure {
		t.Fatalf("campaign show on a corrupt database: exit %d %s", code, errs)
	}

	// Restore: the copy back in place, checked, then the daemon again.
	data, err := os.ReadFile(copies[0])
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(db, data, 0o600); err != nil {
		t.Fatal(err)
	}
	conn, err := sql.Open("sqlite3", "file:"+db+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	var integrity string
	err = conn.QueryRow("PRAGMA integrity_check").Scan(&integrity)
	conn.Close()
	if err != nil || integrity != "ok" {
		t.Fatalf("integrity_check of the restored database: %q %v", integrity, err)
	}
	if got := mustRunAt(t, "", during, "campaign", "show", "PAR2025", "--config", config); got != show {
		t.Errorf("campaign show after the restore:\n%s\nwant:\n%s", got, show)
	}
	if got := mustRunAt(t, "", during, "responses", "list", "--campaign", "PAR2025", "--config", config); got != responses {
		t.Errorf("responses list after the restore:\n%s\nwant:\n%s", got, responses)
	}
	mustRunAt(t, "", during, "run", "--once", "--config", config)
	if n := len(smtp.Received()); n != 121 {
		t.Errorf("the daemon on the restored database: %d messages in all, want 121 (nothing sent twice)", n)
	}
}

// TestDeployDocMentionsEveryFile keeps docs/deploy.md and the files it
// installs together.
func TestDeployDocMentionsEveryFile(t *testing.T) {
	data, err := os.ReadFile("../../docs/deploy.md")
	if err != nil {
		t.Fatal(err)
	}
	doc := string(data)
	for _, want := range []string{"docs/systemd/phieu.service", "docs/systemd/phieu-backup.service", "docs/systemd/phieu-backup.timer",
		"docs/systemd/phieu.env.example", "docs/systemd/phieu-admin", "scripts/install-systemd", "docs/examples/zimbra.yaml",
		"docs/examples/exchange.yaml", "phieu backup", "journalctl -u phieu", "PRAGMA integrity_check"} {
		if !strings.Contains(doc, want) {
			t.Errorf("docs/deploy.md does not mention %s", want)
		}
	}
	// Every command line of the doc that runs phieu (or phieu-admin)
	// parses, flags and arguments included.
	sc := bufio.NewScanner(bytes.NewReader(data))
	inShell := false
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		switch {
		case strings.HasPrefix(line, "```sh"):
			inShell = true
		case strings.HasPrefix(line, "```"):
			inShell = false
		case inShell && !strings.ContainsAny(line, "|><$"):
			line, _, _ = strings.Cut(line, " #")
			fields := strings.Fields(line)
			if len(fields) > 0 && fields[0] == "sudo" {
				fields = fields[1:]
			}
			if len(fields) < 2 || (fields[0] != "phieu" && fields[0] != "phieu-admin" && fields[0] != "/usr/local/bin/phieu") {
				continue
			}
			m := NewMain()
			m.Stdout, m.Stderr = new(bytes.Buffer), new(bytes.Buffer)
			if err := m.ParseFlags(fields[1:]); err != nil {
				t.Errorf("docs/deploy.md: %q: %v", line, err)
			}
		}
	}
}
