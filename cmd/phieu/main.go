// Command phieu runs email survey campaigns through a province's official
// mailbox system: it imports rosters, defines campaigns and (in later
// subcommands) sends invitations, reads answers and chases non-respondents.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime/debug"
	"strings"
	"syscall"
	"time"
	_ "time/tzdata" // Asia/Ho_Chi_Minh must load on machines without zoneinfo.

	"github.com/phieu/phieu/store"
	"github.com/phieu/phieu/store/roster"
	"github.com/phieu/phieu/store/sqlite"
)

func main() {
	tuneGC()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	m := NewMain()
	os.Exit(m.Main(ctx, os.Args[1:]))
}

// tuneGC trades memory phieu does not need for CPU it does: a collection
// every fourfold growth of the heap instead of every doubling, under a soft
// memory limit that keeps a province-sized run near 128 MiB. GOGC and
// GOMEMLIMIT, when set, win.
func tuneGC() {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(400)
	}
	if os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(128 << 20)
	}
}

// Exit codes.
const (
	exitOK      = 0
	exitFailure = 1
	exitUsage   = 2
)

// errUsage marks errors in how the command was called (exit code 2).
var errUsage = errors.New("usage")

func usageErrorf(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{errUsage}, args...)...)
}

// Main is the program: its streams, its clock and the subcommand chosen by
// ParseFlags. Tests run it in-process with buffers.
type Main struct {
	Stdout io.Writer
	Stderr io.Writer
	Now    func() time.Time
	Getenv func(string) string
	Logger *slog.Logger

	cmd     runner
	argv    []string // the arguments ParseFlags was given, for the audit log
	closers []io.Closer
}

// NewMain returns a Main wired to the process.
func NewMain() *Main {
	return &Main{
		Stdout: os.Stdout,
		Stderr: os.Stderr,
		Now:    time.Now,
		Getenv: os.Getenv,
		Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
	}
}

// Main parses, runs and closes, and returns the exit code.
func (m *Main) Main(ctx context.Context, args []string) int {
	defer m.Close()
	if err := m.ParseFlags(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		fmt.Fprintf(m.Stderr, "phieu: %s\n", strings.TrimPrefix(err.Error(), "usage: "))
		return exitUsage
	}
	if err := m.Run(ctx); err != nil {
		m.printError(err)
		if errors.Is(err, errUsage) {
			return exitUsage
		}
		return exitFailure
	}
	return exitOK
}

// runner is one subcommand: it registers its flags, takes its positional
// arguments and runs.
type runner interface {
	flags(fs *flag.FlagSet)
	args(rest []string) error
	Run(ctx context.Context) error
}

// command describes a subcommand for dispatch and help.
type command struct {
	name     string // "import units"
	args     string // positional arguments, for usage
	synopsis string
	help     string // paragraph printed by --help
	new      func(m *Main) runner
}

func (m *Main) commands() []command {
	return []command{
		{"demo", "", "run a whole simulated campaign on built-in mail servers, then show the dashboard", demoHelp, func(m *Main) runner { return &DemoCommand{m: m} }},
		{"init", "[DIR]", "write a sample config, campaign and rosters and create the database", initHelp, func(m *Main) runner { return &InitCommand{m: m} }},
		{"config check", "", "validate the config file and print every problem", configCheckHelp, func(m *Main) runner { return &ConfigCheckCommand{m: m} }},
		{"import units", "FILE", "import units and their heads from CSV or XLSX", importUnitsHelp, func(m *Main) runner { return &ImportCommand{m: m, kind: roster.Units} }},
		{"import respondents", "FILE", "import respondents from CSV or XLSX", importRespondentsHelp, func(m *Main) runner { return &ImportCommand{m: m, kind: roster.Respondents} }},
		{"units list", "", "print the unit tree", unitsListHelp, func(m *Main) runner { return &UnitsListCommand{m: m} }},
		{"respondents list", "", "print respondents in Vietnamese name order", respondentsListHelp, func(m *Main) runner { return &RespondentsListCommand{m: m} }},
		{"campaign create", "", "create a campaign from a campaign file", campaignCreateHelp, func(m *Main) runner { return &CampaignCreateCommand{m: m} }},
		{"campaign list", "", "list campaigns", campaignListHelp, func(m *Main) runner { return &CampaignListCommand{m: m} }},
		{"campaign show", "CODE", "show a campaign with counts by group and unit", campaignShowHelp, func(m *Main) runner { return &CampaignShowCommand{m: m} }},
		{"campaign add-members", "CODE", "add respondents to a campaign by group and unit", campaignAddMembersHelp, func(m *Main) runner { return &CampaignAddMembersCommand{m: m} }},
		{"campaign pause", "CODE", "stop sending for a campaign until resumed", campaignPauseHelp, func(m *Main) runner { return asCLIUser(m, &CampaignStateCommand{m: m, state: store.CampaignPaused}) }},
		{"campaign resume", "CODE", "resume sending for a paused campaign", campaignPauseHelp, func(m *Main) runner { return asCLIUser(m, &CampaignStateCommand{m: m, state: store.CampaignActive}) }},
		{"run", "", "run the daemon: send, poll, remind and escalate on schedule", runHelp, func(m *Main) runner { return &RunCommand{m: m} }},
		{"serve", "", "serve the dashboard read-only, without running jobs", serveHelp, func(m *Main) runner { return &ServeCommand{m: m} }},
		{"hash-password", "", "print the bcrypt hash of a dashboard password, for http.operators", hashPasswordHelp, func(m *Main) runner { return &HashPasswordCommand{m: m} }},
		{"send", "", "queue invitations and deliver the outbox through the SMTP server", sendHelp, func(m *Main) runner { return asCLIUser(m, &SendCommand{m: m}) }},
		{"outbox list", "", "list outbox messages and their states", outboxListHelp, func(m *Main) runner { return &OutboxListCommand{m: m} }},
		{"outbox show", "ID", "show one outbox message with every SMTP attempt", outboxShowHelp, func(m *Main) runner { return &OutboxShowCommand{m: m} }},
		{"poll", "", "read the survey mailbox over IMAP: bounces, replies, answers", pollHelp, func(m *Main) runner { return &PollCommand{m: m} }},
		{"inspect", "FILE...", "analyse saved messages (.eml) offline: kind, failures, reply text, answers", inspectHelp, func(m *Main) runner { return &InspectCommand{m: m} }},
		{"inbox list", "", "list the messages read from the survey mailbox", inboxListHelp, func(m *Main) runner { return &InboxListCommand{m: m} }},
		{"responses list", "", "list the responses read from replies", responsesListHelp, func(m *Main) runner { return &ResponsesListCommand{m: m} }},
		{"responses accept", "ID", "count a late or needs-review response", responsesAcceptHelp, func(m *Main) runner { return &ResponsesAcceptCommand{m: m} }},
		{"responses reject", "ID", "decide that a late or needs-review response does not count", responsesRejectHelp, func(m *Main) runner { return &ResponsesRejectCommand{m: m} }},
		{"integrity", "", "report signs that someone other than the member answered, per unit, with reasons", integrityHelp, func(m *Main) runner { return &IntegrityCommand{m: m} }},
		{"audit list", "", "list the audit log: who exported, decided, paused or changed what, when", auditListHelp, func(m *Main) runner { return &AuditListCommand{m: m} }},
		{"failures", "", "print the delivery-failure ledger with what each class means and what to do", failuresHelp, func(m *Main) runner { return &FailuresCommand{m: m} }},
		{"export responses", "", "write the campaign's answers as CSV or XLSX, without names unless --identified", exportResponsesHelp, func(m *Main) runner { return &ExportResponsesCommand{campaignExport: campaignExport{m: m}} }},
		{"export nonrespondents", "", "write who has not answered yet, by unit, as CSV or XLSX", exportNonrespondentsHelp, func(m *Main) runner { return &ExportNonrespondentsCommand{campaignExport: campaignExport{m: m}} }},
		{"export failures", "", "write the delivery-failure ledger as CSV or XLSX", exportFailuresHelp, func(m *Main) runner { return &ExportFailuresCommand{m: m} }},
		{"backup", "FILE|DIR", "copy the database while the daemon runs, checked, for safekeeping", backupHelp, func(m *Main) runner { return &BackupCommand{m: m} }},
		{"preview", "", "print a message as its recipient would see it (or its raw MIME)", previewHelp, func(m *Main) runner { return &PreviewCommand{m: m} }},
		{"bench send", "", "measure delivery against Postfix's smtp-source, into smtp-sink or through a running Postfix", benchSendHelp, func(m *Main) runner { return &BenchSendCommand{m: m} }},
		{"bench poll", "", "measure the poller against a fetch-only IMAP baseline", benchPollHelp, func(m *Main) runner { return &BenchPollCommand{m: m} }},
		{"bench accuracy", "", "measure bounce and reply analysis on the labelled real-message corpora", benchAccuracyHelp, func(m *Main) runner { return &BenchAccuracyCommand{m: m} }},
		{"bench import", "", "measure roster import speed against a bare CSV-to-SQLite loader", benchImportHelp, func(m *Main) runner { return &BenchImportCommand{m: m} }},
	}
}

// ParseFlags picks the subcommand named by args and parses its flags.
func (m *Main) ParseFlags(args []string) error {
	m.argv = args
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		m.usage(m.Stdout)
		if len(args) == 0 {
			return usageErrorf("no command given")
		}
		return flag.ErrHelp
	}
	var cmd *command
	consumed := 0
	for _, c := range m.commands() {
		words := strings.Fields(c.name)
		if len(args) >= len(words) && strings.Join(args[:len(words)], " ") == c.name && len(words) > consumed {
			cmd, consumed = &c, len(words)
		}
	}
	if cmd == nil {
		m.usage(m.Stderr)
		return usageErrorf("unknown command %q", strings.Join(args[:min(2, len(args))], " "))
	}
	r := cmd.new(m)
	fs := flag.NewFlagSet("phieu "+cmd.name, flag.ContinueOnError)
	fs.SetOutput(m.Stderr)
	r.flags(fs)
	fs.Usage = func() {
		out := fs.Output()
		fmt.Fprintf(out, "Usage: phieu %s [flags] %s\n\n%s\n", cmd.name, cmd.args, strings.TrimSpace(cmd.help))
		var n int
		fs.VisitAll(func(*flag.Flag) { n++ })
		if n > 0 {
			fmt.Fprintf(out, "\nFlags:\n")
			fs.PrintDefaults()
		}
	}
	rest := args[consumed:]
	for _, a := range rest {
		if a == "-h" || a == "--help" || a == "-help" {
			fs.SetOutput(m.Stdout)
			fs.Usage()
			return flag.ErrHelp
		}
	}
	if err := fs.Parse(interleave(fs, rest)); err != nil {
		return usageErrorf("%v", err)
	}
	if err := r.args(fs.Args()); err != nil {
		return fmt.Errorf("%w (see phieu %s --help)", err, cmd.name)
	}
	m.cmd = r
	return nil
}

// interleave moves positional arguments after the flags so that both
// "import units FILE --dry-run" and "import units --dry-run FILE" work.
func interleave(fs *flag.FlagSet, args []string) []string {
	var flags, positional []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			positional = append(positional, args[i+1:]...)
			break
		}
		if !strings.HasPrefix(a, "-") || a == "-" {
			positional = append(positional, a)
			continue
		}
		flags = append(flags, a)
		name := strings.TrimLeft(a, "-")
		if strings.Contains(name, "=") {
			continue
		}
		if f := fs.Lookup(name); f != nil {
			if bf, ok := f.Value.(interface{ IsBoolFlag() bool }); ok && bf.IsBoolFlag() {
				continue
			}
			if i+1 < len(args) {
				flags = append(flags, args[i+1])
				i++
			}
		}
	}
	return append(flags, positional...)
}

// Run runs the subcommand chosen by ParseFlags.
func (m *Main) Run(ctx context.Context) error {
	if m.cmd == nil {
		return usageErrorf("no command given")
	}
	return m.cmd.Run(ctx)
}

// Close releases what the subcommand opened (the database).
func (m *Main) Close() error {
	var errs []error
	for i := len(m.closers) - 1; i >= 0; i-- {
		errs = append(errs, m.closers[i].Close())
	}
	m.closers = nil
	return errors.Join(errs...)
}

func (m *Main) usage(w io.Writer) {
	fmt.Fprintf(w, "phieu runs email survey campaigns through official government mailboxes.\n\nUsage: phieu COMMAND [flags] [args]\n\nCommands:\n")
	for _, c := range m.commands() {
		fmt.Fprintf(w, "  %-22s %s\n", c.name, c.synopsis)
	}
	fmt.Fprintf(w, "\nEvery command takes --help. Config: --config FILE, else $PHIEU_CONFIG, else ./phieu.yaml.\n")
}

// printError prints err for a person: positioned problem lists one per line,
// domain errors by their message, anything else with its chain.
func (m *Main) printError(err error) {
	var lines interface{ Lines() []string }
	if errors.As(err, &lines) {
		for _, l := range lines.Lines() {
			fmt.Fprintln(m.Stderr, l)
		}
		return
	}
	msg := err.Error()
	if code := store.ErrorCode(err); code != store.EINTERNAL && code != "" {
		msg = store.ErrorMessage(err)
	}
	fmt.Fprintf(m.Stderr, "phieu: %s\n", strings.TrimPrefix(msg, "usage: "))
}

// configFlag is the --config flag every command that reads the config has.
type configFlag struct{ path string }

func (c *configFlag) register(fs *flag.FlagSet) {
	fs.StringVar(&c.path, "config", "", "config file (default $PHIEU_CONFIG, else ./phieu.yaml)")
}

// loadConfig finds, reads and validates the config. A missing file that was
// not named explicitly means the embedded defaults, so commands work in an
// empty directory.
func (m *Main) loadConfig(c configFlag) (*Config, error) {
	path, explicit := FindConfigPath(c.path)
	if !explicit {
		if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
			cfg := DefaultConfig()
			return &cfg, nil
		}
	}
	cfg, err := ReadConfigFile(path)
	if err != nil {
		return nil, err
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &cfg, nil
}

// openStore loads the config and opens its database.
func (m *Main) openStore(c configFlag) (*sqlite.DB, *Config, error) {
	cfg, err := m.loadConfig(c)
	if err != nil {
		return nil, nil, err
	}
	db := sqlite.NewDB(cfg.Resolve(cfg.Store.Path))
	db.Now = m.Now
	if db.LinkKey, err = m.existingLinkKey(cfg); err != nil {
		return nil, nil, err
	}
	if err := db.Open(); err != nil {
		return nil, nil, fmt.Errorf("open store %s: %w", db.Path(), err)
	}
	m.closers = append(m.closers, db)
	return db, cfg, nil
}

// stringList is a repeatable flag: --group A --group B, or --group A,B.
type stringList []string

func (s *stringList) String() string { return strings.Join(*s, ",") }

func (s *stringList) Set(v string) error {
	for _, p := range strings.Split(v, ",") {
		if p = strings.TrimSpace(p); p != "" {
			*s = append(*s, p)
		}
	}
	return nil
}

// noArgs is embedded by commands that take no positional arguments.
type noArgs struct{}

func (noArgs) args(rest []string) error {
	if len(rest) > 0 {
		return usageErrorf("unexpected argument %q", rest[0])
	}
	return nil
}

// oneArg takes exactly one positional argument.
func oneArg(rest []string, what string, dst *string) error {
	switch len(rest) {
	case 0:
		return usageErrorf("missing %s", what)
	case 1:
		*dst = rest[0]
		return nil
	}
	return usageErrorf("unexpected argument %q after %s", rest[1], what)
}
