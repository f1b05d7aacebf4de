package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/phieu/phieu/poller"
	"github.com/phieu/phieu/poller/answers"
	"github.com/phieu/phieu/store"
	"github.com/phieu/phieu/store/sqlite"
)

const inspectHelp = `Analyses saved messages offline, as the poller would: what kind each is
(bounce, delay, delivered, auto_reply, complaint, reply, other), every
failed recipient with its status, class and what to do about it, and the
text a person wrote. With --campaign the answers are read against that
campaign's questionnaire. Nothing is stored and no server is contacted.
--json prints one JSON object per file, one per line. "-" reads standard
input.`

// InspectCommand is "phieu inspect".
type InspectCommand struct {
	m        *Main
	config   configFlag
	json     bool
	campaign string
	files    []string
}

func (c *InspectCommand) flags(fs *flag.FlagSet) {
	c.config.register(fs)
	fs.BoolVar(&c.json, "json", false, "one JSON object per file, one per line")
	fs.StringVar(&c.campaign, "campaign", "", "read answers against this campaign's questionnaire (`code`)")
}

func (c *InspectCommand) args(rest []string) error {
	if len(rest) == 0 {
		return usageErrorf("inspect needs at least one FILE.eml (or - for standard input)")
	}
	c.files = rest
	return nil
}

// inspectFailure is one failed recipient as --json prints it.
type inspectFailure struct {
	Recipient  string `json:"recipient"`
	Status     string `json:"status"`
	SMTPCode   int    `json:"smtp_code"`
	Class      string `json:"class"`
	Hard       bool   `json:"hard"`
	Diagnostic string `json:"diagnostic"`
	RemoteMTA  string `json:"remote_mta"`
}

// inspectResult is one file as --json prints it.
type inspectResult struct {
	File      string            `json:"file"`
	Kind      string            `json:"kind"`
	Engine    string            `json:"engine,omitempty"`
	Failures  []inspectFailure  `json:"failures"`
	ReplyText *string           `json:"reply_text,omitempty"`
	Answers   map[string]string `json:"answers,omitempty"`
	Problems  []string          `json:"problems,omitempty"`
	Error     string            `json:"error,omitempty"`
}

// Run inspects every file; a file that cannot be read is reported and the
// others still are.
func (c *InspectCommand) Run(ctx context.Context) error {
	var q *store.Questionnaire
	if c.campaign != "" {
		db, _, err := c.m.openStore(c.config)
		if err != nil {
			return err
		}
		camp, err := sqlite.NewCampaignService(db).FindCampaignByCode(ctx, c.campaign)
		if err != nil {
			return err
		}
		q = &camp.Questionnaire
	}
	enc := json.NewEncoder(c.m.Stdout)
	enc.SetEscapeHTML(false)
	failed := 0
	for _, file := range c.files {
		res := c.inspect(file, q)
		if res.Error != "" {
			failed++
		}
		if c.json {
			if err := enc.Encode(res); err != nil {
				return err
			}
			continue
		}
		c.explain(c.m.Stdout, res)
	}
	if failed > 0 {
		return fmt.Errorf("inspect: %d of %d files could not be read", failed, len(c.files))
	}
	return nil
}

func (c *InspectCommand) inspect(file string, q *store.Questionnaire) inspectResult {
	res := inspectResult{File: file, Failures: []inspectFailure{}}
	var raw []byte
	var err error
	if file == "-" {
		raw, err = io.ReadAll(os.Stdin)
	} else {
		raw, err = os.ReadFile(file)
	}
	if err != nil {
		res.Error = err.Error()
		return res
	}
	a, err := poller.Analyze(raw)
	if err != nil {
		res.Error = fmt.Sprintf("%s: %v", file, err)
		return res
	}
	res.Kind, res.Engine = string(a.Kind), a.Engine
	for _, f := range a.Failures {
		res.Failures = append(res.Failures, inspectFailure{Recipient: f.Recipient, Status: f.Status, SMTPCode: f.SMTPCode,
			Class: string(f.Class), Hard: f.Hard, Diagnostic: f.Diagnostic, RemoteMTA: f.RemoteMTA})
	}
	if a.Text != "" || a.Kind == store.InboundReply {
		text := strings.TrimSpace(a.Visible)
		res.ReplyText = &text
	}
	if q != nil && res.ReplyText != nil {
		r := answers.Read(a.Visible, a.Quoted, *q)
		res.Answers = map[string]string{}
		for _, an := range r.Answers {
			res.Answers[an.Code] = an.Value
		}
		for _, p := range r.Problems {
			res.Problems = append(res.Problems, p.Code+": "+p.Message)
		}
	}
	return res
}

var kindLabels = map[string]string{
	"bounce":     "thư báo lỗi (không gửi được)",
	"delay":      "thư báo chậm (máy chủ vẫn đang thử gửi lại)",
	"delivered":  "thư báo đã chuyển thành công",
	"auto_reply": "thư trả lời tự động (vắng mặt, đi công tác...)",
	"complaint":  "báo cáo khiếu nại thư rác (ARF)",
	"reply":      "thư do người viết",
	"other":      "thư tự động khác",
}

// explain writes what an IT liaison needs, in Vietnamese.
func (c *InspectCommand) explain(w io.Writer, r inspectResult) {
	fmt.Fprintf(w, "== %s\n", r.File)
	if r.Error != "" {
		fmt.Fprintf(w, "Không đọc được: %s\n\n", r.Error)
		return
	}
	fmt.Fprintf(w, "Loại: %s", kindLabels[r.Kind])
	if r.Engine != "" {
		fmt.Fprintf(w, " — định dạng %s", r.Engine)
	}
	fmt.Fprintln(w)
	for _, f := range r.Failures {
		class := store.FailureClass(f.Class)
		meaning, action := class.Explain()
		var hard string
		switch {
		case f.Hard:
			hard = "lỗi vĩnh viễn: địa chỉ không dùng được"
		case strings.HasPrefix(f.Status, "4."):
			hard = "lỗi tạm thời: máy chủ thư còn thử gửi lại"
		default:
			hard = "thư bị từ chối, nhưng địa chỉ vẫn có thể dùng được sau khi khắc phục"
		}
		fmt.Fprintf(w, "- Người nhận %s: %s, mã %s", f.Recipient, class.Label(), f.Status)
		if f.SMTPCode != 0 {
			fmt.Fprintf(w, " (SMTP %d)", f.SMTPCode)
		}
		fmt.Fprintf(w, ", %s.\n  Ý nghĩa: %s\n  Cần làm: %s\n", hard, meaning, action)
		if f.RemoteMTA != "" {
			fmt.Fprintf(w, "  Máy chủ nhận: %s\n", f.RemoteMTA)
		}
		if f.Diagnostic != "" {
			fmt.Fprintf(w, "  Máy chủ trả lời: %s\n", f.Diagnostic)
		}
	}
	if r.ReplyText != nil {
		fmt.Fprintf(w, "Nội dung người viết:\n%s\n", indent(*r.ReplyText, "  "))
	}
	if r.Answers != nil {
		fmt.Fprintf(w, "Câu trả lời đọc được: %d\n", len(r.Answers))
		for _, p := range r.Problems {
			fmt.Fprintf(w, "  Chưa hợp lệ — %s\n", p)
		}
	}
	fmt.Fprintln(w)
}

func indent(s, prefix string) string {
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		lines[i] = prefix + l
	}
	return strings.Join(lines, "\n")
}
