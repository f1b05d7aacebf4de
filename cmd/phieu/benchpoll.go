package main

import (
	"context"
	"flag"
	"fmt"
	"math/rand/v2"
	"net"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/emersion/go-imap/v2/imapclient"

	"github.com/phieu/phieu/poller"
	"github.com/phieu/phieu/poller/imaptest"
	"github.com/phieu/phieu/store"
	"github.com/phieu/phieu/store/endpoint"
	"github.com/phieu/phieu/store/sqlite"
	"github.com/phieu/phieu/store/synth"
)

const benchPollHelp = `Fills a survey mailbox with a realistic mix of messages (replies with
answers, bounces, delay notices, auto-replies and unrelated human mail),
all tied to a generated campaign's sent invitations, then measures in the
same run a fetch-only baseline (an IMAP client fetching every message
with BODY.PEEK[] and doing nothing else) and phieu's full poll (fetch,
classify, match, store each message with its checkpoint in its own
transaction, queue receipts, move into folders).

The server is go-imap's in-memory one on 127.0.0.1 unless --imap names a
running server on this machine, such as the Dovecot of scripts/mailstack.
Either way the bench creates a new mailbox, phieu-bench-<time>, fills it,
reads it and files into folders under it (phieu-bench-<time>/Bounces, ...),
then deletes them all: the user's INBOX and phieu's usual folders are left
alone, and runs need no cleanup in between. --tls, --ca-file and
--server-name say how to reach the running server, for the fill, the
fetch-only baseline and phieu alike; scripts/mailstack's Dovecot also lets
127.0.0.1 log in on port 1143 with --tls none, which shows what TLS costs.
Against that Dovecot over IMAPS:

  scripts/mailstack adduser bench.poll@binhson.gov.test
  eval "$(scripts/mailstack env)"
  phieu bench poll --imap 127.0.0.1:1993 --tls tls \
    --ca-file $PHIEU_MAILSTACK_CA_FILE \
    --user bench.poll@binhson.gov.test --password $PHIEU_MAILSTACK_PASSWORD \
    --messages 5000

The last line is "poll: phieu X msg/s, fetch-only Y msg/s, ratio R".`

// BenchPollCommand is "phieu bench poll".
type BenchPollCommand struct {
	noArgs
	m        *Main
	messages int
	seed     uint64
	dir      string
	imapAddr string
	user     string
	password string
	tls      string
	caFile   string
	server   string // the name on the server's certificate
	profile  string
}

func (c *BenchPollCommand) flags(fs *flag.FlagSet) {
	fs.IntVar(&c.messages, "messages", 5000, "messages to put in the mailbox")
	fs.Uint64Var(&c.seed, "seed", 1, "generator seed")
	fs.StringVar(&c.dir, "dir", "", "work directory (default: a temporary one, removed after)")
	fs.StringVar(&c.imapAddr, "imap", "", "a running IMAP server's loopback `host:port` (default: an in-memory one)")
	fs.StringVar(&c.user, "user", "", "the running server's user")
	fs.StringVar(&c.password, "password", "", "the running server's password")
	fs.StringVar(&c.tls, "tls", endpoint.TLSNone, "how to reach the running server: none, starttls or tls (implicit, as on port 993)")
	fs.StringVar(&c.caFile, "ca-file", "", "PEM `file` of the CA that signed the running server's certificate, added to the system's")
	fs.StringVar(&c.server, "server-name", "", "the `name` on the running server's certificate, if not the --imap host")
	fs.StringVar(&c.profile, "cpuprofile", "", "write a CPU profile of phieu's poll to `file`")
}

// Run benchmarks.
func (c *BenchPollCommand) Run(ctx context.Context) error {
	if c.messages < 10 {
		return usageErrorf("need --messages ≥ 10")
	}
	switch c.tls {
	case endpoint.TLSNone, endpoint.TLSStartTLS, endpoint.TLSImplicit:
	default:
		return usageErrorf("--tls %q is not none, starttls or tls", c.tls)
	}
	if c.imapAddr == "" && (c.tls != endpoint.TLSNone || c.caFile != "" || c.server != "") {
		return usageErrorf("--tls, --ca-file and --server-name are for a running server: give --imap")
	}
	dir, cleanup, err := workDir(c.dir, "phieu-bench-poll-")
	if err != nil {
		return err
	}
	defer cleanup()
	out := c.m.Stdout
	cfg := poller.Config{TLS: c.tls, CAFile: c.caFile, ServerName: c.server}
	var srv *imaptest.Server
	if c.imapAddr == "" {
		var err error
		if srv, err = imaptest.Start(imaptest.Options{}); err != nil {
			return err
		}
		defer srv.Close()
		cfg.Host, cfg.Port, cfg.Username, cfg.Password = srv.Host, srv.Port, srv.Username, srv.Password
	} else {
		host, port, err := splitHostPort(c.imapAddr)
		if err != nil {
			return usageErrorf("--imap: %v", err)
		}
		if !endpoint.IsLoopback(host) {
			return usageErrorf("--imap must be a server on this machine, not %s", host)
		}
		cfg.Host, cfg.Port, cfg.Username, cfg.Password = host, port, c.user, c.password
	}

	// A mailbox of its own, named by the wall clock (not c.m.Now, which
	// tests fix), with phieu's folders under it: the messages phieu reads
	// are exactly the ones filled, and nothing of the user's is touched.
	name := fmt.Sprintf("phieu-bench-%d", time.Now().UnixNano())
	cfg.Mailbox = name
	cfg.Folders = poller.Folders{Bounces: name + "/Bounces", Replies: name + "/Replies", AutoReplies: name + "/AutoReplies", Unmatched: name + "/Unmatched"}
	if err := createBenchMailbox(cfg); err != nil {
		return err
	}
	defer func() {
		if err := deleteBenchMailbox(cfg); err != nil {
			fmt.Fprintf(c.m.Stderr, "bench: mailbox %s left on the server: %v\n", name, err)
		}
	}()

	prep := time.Now()
	db, outbox, campaigns, err := openBenchStore(dir, c.m.Now)
	if err != nil {
		return err
	}
	defer db.Close()
	msgs, err := c.prepare(ctx, db, campaigns, outbox)
	if err != nil {
		return err
	}
	mix, bytes, err := c.fill(ctx, cfg, msgs)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "prepared %d messages (%s), %.1f MB, in %s\n", c.messages, mix, float64(bytes)/(1<<20), time.Since(prep).Round(time.Millisecond))
	fmt.Fprintf(out, "mailbox %s on %s, tls %s\n", name, net.JoinHostPort(cfg.Host, strconv.Itoa(cfg.Port)), cfg.TLS)

	// Baseline: the same messages fetched the same way, nothing else; the
	// fastest of three runs, as one run varies several-fold with the
	// machine's other work.
	var baseTime time.Duration
	var runs []string
	for range 3 {
		start := time.Now()
		n, err := fetchOnly(ctx, cfg)
		if err != nil {
			return err
		}
		if n != c.messages {
			return fmt.Errorf("bench: fetch-only read %d of %d messages", n, c.messages)
		}
		d := time.Since(start)
		runs = append(runs, d.Round(time.Millisecond).String())
		if baseTime == 0 || d < baseTime {
			baseTime = d
		}
	}

	p := &poller.Poller{Config: cfg, Store: pollStore{sqlite.NewInboundService(db, outbox), outbox}, Campaigns: campaigns,
		Logger: c.m.Logger, Now: c.m.Now}
	stopProfile, err := startCPUProfile(c.profile)
	if err != nil {
		return err
	}
	defer stopProfile()
	start := time.Now()
	st, err := p.Poll(ctx)
	if err != nil {
		return fmt.Errorf("bench: poll: %w", err)
	}
	pollTime := time.Since(start)
	if st.Fetched != c.messages {
		return fmt.Errorf("bench: phieu read %d of %d messages (%+v)", st.Fetched, c.messages, st)
	}
	fmt.Fprintf(out, "fetch-only: %d messages in %s (fastest of %s)\n", c.messages, baseTime.Round(time.Millisecond), strings.Join(runs, ", "))
	fmt.Fprintf(out, "phieu: %d messages in %s: %d stored (%d replies, %d bounces, %d delays, %d auto-replies), %d responses, %d left untouched, %d moved; %d CPUs\n",
		st.Fetched, pollTime.Round(time.Millisecond), st.Stored, st.Kinds[store.InboundReply], st.Kinds[store.InboundBounce],
		st.Kinds[store.InboundDelay], st.Kinds[store.InboundAutoReply], st.Responses, st.Ignored, st.Filed, runtime.NumCPU())
	phieuRate := float64(c.messages) / pollTime.Seconds()
	baseRate := float64(c.messages) / baseTime.Seconds()
	fmt.Fprintf(out, "poll: phieu %.0f msg/s, fetch-only %.0f msg/s, ratio %.2f\n", phieuRate, baseRate, phieuRate/baseRate)
	return nil
}

// prepare stores a province, a campaign over it and one invitation per
// member, as if sent.
func (c *BenchPollCommand) prepare(ctx context.Context, db *sqlite.DB, campaigns *sqlite.CampaignService, outbox *sqlite.OutboxService) ([]*store.OutboxMessage, error) {
	p := synth.Generate(c.seed, max(3, c.messages/50), c.messages)
	if err := storeProvince(ctx, db, p); err != nil {
		return nil, fmt.Errorf("bench: %w", err)
	}
	camp := syntheticCampaign("BENCH", c.m.Now(), p.Groups())
	if err := campaigns.CreateCampaign(ctx, camp); err != nil {
		return nil, fmt.Errorf("bench: campaign: %w", err)
	}
	if _, err := campaigns.AddMembers(ctx, camp.Code, store.MemberSelector{}); err != nil {
		return nil, fmt.Errorf("bench: members: %w", err)
	}
	if err := campaigns.SetCampaignState(ctx, camp.Code, store.CampaignActive); err != nil {
		return nil, err
	}
	if _, err := outbox.EnqueueInvitations(ctx, camp.Code, 0); err != nil {
		return nil, fmt.Errorf("bench: invitations: %w", err)
	}
	msgs, _, err := outbox.FindOutbox(ctx, store.OutboxFilter{CampaignCode: camp.Code})
	return msgs, err
}

// benchQuoted is the part of an invitation a reply quotes.
const benchQuoted = `Kính gửi: Ông Nguyễn Văn An, Giám đốc Sở Tư pháp

Sở Nội vụ tỉnh Bình Sơn trân trọng đề nghị Ông trả lời phiếu khảo sát
"Khảo sát lấy ý kiến đánh giá Chỉ số cải cách hành chính năm 2025".

C1. Công tác chỉ đạo, điều hành cải cách hành chính của tỉnh được thực hiện
quyết liệt, hiệu quả (bắt buộc)
C1 [1-10]:

C2. Việc sắp xếp tổ chức bộ máy sau hợp nhất đơn vị hành chính (bắt buộc)
   A. Hợp lý
   B. Chưa hợp lý
C2 [A/B]:

C3. Ý kiến khác
C3 [ý kiến]:

Cách trả lời: bấm "Trả lời" (Reply), ghi câu trả lời ngay sau dấu hai chấm
của từng dòng, ví dụ:
       C1 [1-10]: 8
`

// fill puts the mix in the mailbox: 40% replies, 20% bounces, 5% delays,
// 10% auto-replies, 25% human mail that is not phieu's.
func (c *BenchPollCommand) fill(ctx context.Context, cfg poller.Config, msgs []*store.OutboxMessage) (string, int, error) {
	cl, err := benchClient(cfg)
	if err != nil {
		return "", 0, err
	}
	defer cl.Close()
	r := rand.New(rand.NewPCG(c.seed, 7))
	counts := map[string]int{}
	total := 0
	const survey = "khaosat.snv@binhson.gov.test"
	for i := range c.messages {
		m := msgs[i%len(msgs)]
		subject := "Phiếu khảo sát Chỉ số CCHC năm 2025 [KS-" + m.Ref + "]"
		var raw []byte
		var kind string
		switch x := r.IntN(100); {
		case x < 40:
			kind = "reply"
			text := fmt.Sprintf("Kính gửi Sở Nội vụ,\n\nC1: %d\nC2: %s\nC3: Đề nghị đơn giản hóa thủ tục.\n\nTrân trọng.", 1+r.IntN(10), []string{"A", "B"}[r.IntN(2)])
			raw, err = imaptest.Reply{From: m.To, To: survey, Subject: subject, InReplyTo: m.MessageID, Text: text, Quoted: benchQuoted}.Bytes()
		case x < 60:
			kind = "bounce"
			raw = imaptest.DSN{ReportingMTA: "mail.binhson.gov.test", To: survey, EnvelopeID: m.Ref, Recipient: m.To, Status: "5.1.1",
				Diagnostic: "smtp; 550 5.1.1 <" + m.To + ">: Recipient address rejected: User unknown in virtual mailbox table",
				Original:   imaptest.OriginalHeaders("snv@binhson.gov.test", m.To, subject, m.MessageID, m.Ref)}.Bytes()
		case x < 65:
			kind = "delay"
			raw = imaptest.DSN{ReportingMTA: "mail.binhson.gov.test", To: survey, EnvelopeID: m.Ref, Recipient: m.To, Action: "delayed", Status: "4.4.1",
				Diagnostic: "smtp; 421 4.4.1 connection timed out", Original: imaptest.OriginalHeaders("snv@binhson.gov.test", m.To, subject, m.MessageID, m.Ref)}.Bytes()
		case x < 75:
			kind = "auto-reply"
			raw, err = imaptest.AutoReply(m.To, survey, subject, m.MessageID, "Tôi đang đi công tác đến hết ngày 05/03/2023, sẽ trả lời khi về.")
		default:
			kind = "human"
			raw, err = imaptest.Human(fmt.Sprintf("vanthu%d@ubnd.binhson.gov.test", i), survey, "Công văn số "+fmt.Sprint(1000+i)+"/UBND-VP về lịch họp",
				strings.Repeat("Kính gửi các đơn vị. Đề nghị chuẩn bị báo cáo theo kế hoạch.\n", 12))
		}
		if err != nil {
			return "", 0, err
		}
		if _, err := appendRaw(cl, cfg.Mailbox, raw); err != nil {
			return "", 0, fmt.Errorf("bench: append: %w", err)
		}
		counts[kind]++
		total += len(raw)
	}
	var parts []string
	for _, k := range []string{"reply", "bounce", "delay", "auto-reply", "human"} {
		parts = append(parts, fmt.Sprintf("%d %s", counts[k], k))
	}
	return strings.Join(parts, ", "), total, nil
}

// fetchOnly fetches every message of the mailbox the way the poller does
// (UID SEARCH, then UID FETCH of BODY.PEEK[] in batches) and drops them.
func fetchOnly(ctx context.Context, cfg poller.Config) (int, error) {
	conn, err := poller.Dial(ctx, cfg, nil)
	if err != nil {
		return 0, err
	}
	defer conn.Close()
	uids, err := conn.SearchAfter(0)
	if err != nil {
		return 0, err
	}
	n := 0
	for len(uids) > 0 {
		chunk := uids[:min(200, len(uids))]
		uids = uids[len(chunk):]
		if err := conn.Fetch(chunk, func(f *poller.Fetched) error { n++; return nil }); err != nil {
			return n, err
		}
	}
	return n, nil
}

// benchClient logs in to the server the way cfg says, TLS included.
func benchClient(cfg poller.Config) (*imapclient.Client, error) {
	cl, err := poller.DialClient(cfg, &imapclient.Options{})
	if err != nil {
		return nil, fmt.Errorf("bench: imap %s:%d: %w", cfg.Host, cfg.Port, err)
	}
	if err := cl.Login(cfg.Username, cfg.Password).Wait(); err != nil {
		cl.Close()
		return nil, fmt.Errorf("bench: imap login as %s: %w", cfg.Username, err)
	}
	return cl, nil
}

// createBenchMailbox creates the mailbox the bench fills and reads.
func createBenchMailbox(cfg poller.Config) error {
	cl, err := benchClient(cfg)
	if err != nil {
		return err
	}
	defer cl.Close()
	if err := cl.Create(cfg.Mailbox, nil).Wait(); err != nil {
		return fmt.Errorf("bench: imap create %s: %w", cfg.Mailbox, err)
	}
	return cl.Logout().Wait()
}

// deleteBenchMailbox deletes the bench's mailbox and the folders phieu
// created under it, children first: a server may refuse to delete a
// mailbox that has children, or keep it as a \Noselect name.
func deleteBenchMailbox(cfg poller.Config) error {
	cl, err := benchClient(cfg)
	if err != nil {
		return err
	}
	defer cl.Close()
	// "*" matches across the hierarchy, whatever the server's separator.
	list, err := cl.List("", cfg.Mailbox+"*", nil).Collect()
	if err != nil {
		return fmt.Errorf("bench: imap list: %w", err)
	}
	var names []string
	for _, l := range list {
		if l.Mailbox == cfg.Mailbox || (len(l.Mailbox) > len(cfg.Mailbox) && l.Delim != 0 && strings.HasPrefix(l.Mailbox, cfg.Mailbox+string(l.Delim))) {
			names = append(names, l.Mailbox)
		}
	}
	slices.SortFunc(names, func(a, b string) int { return len(b) - len(a) })
	for _, n := range names {
		if err := cl.Delete(n).Wait(); err != nil {
			return fmt.Errorf("bench: imap delete %s: %w", n, err)
		}
	}
	return cl.Logout().Wait()
}

func appendRaw(cl *imapclient.Client, mailbox string, raw []byte) (int, error) {
	cmd := cl.Append(mailbox, int64(len(raw)), nil)
	if _, err := cmd.Write(raw); err != nil {
		return 0, err
	}
	if err := cmd.Close(); err != nil {
		return 0, err
	}
	_, err := cmd.Wait()
	return len(raw), err
}

func splitHostPort(addr string) (string, int, error) {
	host, p, err := net.SplitHostPort(addr)
	if err != nil {
		return "", 0, err
	}
	port, err := strconv.Atoi(p)
	if err != nil || port < 1 || port > 65535 {
		return "", 0, fmt.Errorf("%q is not a port", p)
	}
	return host, port, nil
}
