package web

import (
	"bytes"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/phieu/phieu/store"
	"github.com/phieu/phieu/templates"
	webtemplates "github.com/phieu/phieu/templates/web"
)

// layoutFile frames every page: each other file defines "content".
const layoutFile = "layout.html.tmpl"

// parsePages parses each page with the layout, once, at start.
func parsePages(funcs template.FuncMap) (map[string]*template.Template, error) {
	names, err := fs.Glob(webtemplates.FS, "*.html.tmpl")
	if err != nil {
		return nil, fmt.Errorf("web: templates: %w", err)
	}
	pages := map[string]*template.Template{}
	for _, name := range names {
		if name == layoutFile {
			continue
		}
		t, err := template.New(name).Funcs(funcs).ParseFS(webtemplates.FS, layoutFile, name)
		if err != nil {
			return nil, fmt.Errorf("web: templates: %w", err)
		}
		pages[strings.TrimSuffix(name, ".html.tmpl")] = t
	}
	return pages, nil
}

// render writes page name framed by the layout. It renders into a buffer
// first, so a template error becomes a clean 500, not half a page.
func (s *Server) render(w http.ResponseWriter, r *http.Request, status int, name string, v *view) {
	t := s.pages[name]
	var buf bytes.Buffer
	if t == nil {
		s.logger.Error("dashboard: no such page template", "page", name)
		http.Error(w, "Lỗi hệ thống", http.StatusInternalServerError)
		return
	}
	if err := t.ExecuteTemplate(&buf, "layout", v); err != nil {
		s.logger.Error("dashboard: render", "page", name, "path", r.URL.Path, "err", err)
		http.Error(w, "Lỗi hệ thống", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	w.Write(buf.Bytes())
}

// renderError shows message on an error page with status.
func (s *Server) renderError(w http.ResponseWriter, r *http.Request, se *session, status int, message string) {
	v := &view{Title: http.StatusText(status), User: se, ReadOnly: s.cfg.ReadOnly, Data: errorData{Status: status, Message: message}}
	if se != nil {
		v.CSRF = se.CSRF
	}
	s.render(w, r, status, "error", v)
}

type errorData struct {
	Status  int
	Message string
}

// funcs are the helpers templates may call. Each returns text for
// html/template to escape, or a number.
func (s *Server) funcs() template.FuncMap {
	return template.FuncMap{
		"num":           formatInt,
		"pct":           templates.Percent,
		"datetime":      func(t time.Time) string { return s.formatTime(t, "02/01/2006 15:04") },
		"date":          func(t time.Time) string { return s.formatTime(t, "02/01/2006") },
		"deadline":      templates.DeadlineText,
		"state":         outboxStateLabel,
		"kind":          messageKindLabel,
		"campaignState": func(st store.CampaignState) string { return label(campaignStateLabels, st) },
		"response":      responseStatusLabel,
		"stage":         stageLabel,
		"f1":            func(f float64) string { return strconv.FormatFloat(f, 'f', 1, 64) },
		"depth":         func(d int) string { return "depth" + strconv.Itoa(min(d, 5)) },
		"short":         func(n int, s string) string { return shorten(s, n) },
		"duration":      func(d time.Duration) string { return d.Round(time.Millisecond).String() },
		"add":           func(a, b int) int { return a + b },
		"path":          url.PathEscape,
	}
}

func (s *Server) formatTime(t time.Time, layout string) string {
	if t.IsZero() {
		return ""
	}
	return t.In(s.cfg.Location).Format(layout)
}

// formatInt writes n with Vietnamese digit grouping: 12.345.
func formatInt(n int) string {
	s := strconv.Itoa(n)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte('.')
		}
		b.WriteRune(c)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}

// shorten keeps at most n runes of s.
func shorten(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	return string([]rune(s)[:n-1]) + "…"
}

// label is v's Vietnamese label, or v itself when this version has none.
func label[K ~string](labels map[K]string, v K) string {
	if l, ok := labels[v]; ok {
		return l
	}
	return string(v)
}

var campaignStateLabels = map[store.CampaignState]string{
	store.CampaignDraft:  "Bản nháp",
	store.CampaignActive: "Đang gửi thư",
	store.CampaignPaused: "Tạm dừng",
	store.CampaignClosed: "Đã kết thúc",
}

var outboxStateLabels = map[store.OutboxState]string{
	store.OutboxQueued:     "Chờ gửi",
	store.OutboxSending:    "Đang gửi",
	store.OutboxDeferred:   "Tạm hoãn, sẽ gửi lại",
	store.OutboxSent:       "Đã gửi",
	store.OutboxFailed:     "Gửi không thành công",
	store.OutboxSuppressed: "Không gửi nữa",
}

func outboxStateLabel(v store.OutboxState) string { return label(outboxStateLabels, v) }

var messageKindLabels = map[store.MessageKind]string{
	store.KindInvitation:     "Thư mời",
	store.KindReminder:       "Thư nhắc",
	store.KindReceipt:        "Thư xác nhận đã nhận phiếu",
	store.KindCorrection:     "Thư đề nghị bổ sung",
	store.KindHeadDigest:     "Tổng hợp gửi thủ trưởng đơn vị",
	store.KindOperatorDigest: "Tổng hợp gửi người điều hành",
	store.KindLiaisonDigest:  "Tổng hợp gửi cán bộ kỹ thuật",
}

func messageKindLabel(v store.MessageKind) string { return label(messageKindLabels, v) }

var responseStatusLabels = map[store.ResponseStatus]string{
	store.ResponseCounted:     "Được tính",
	store.ResponsePartial:     "Chưa đủ, đã đề nghị bổ sung",
	store.ResponseLate:        "Trả lời sau hạn, chưa tính",
	store.ResponseNeedsReview: "Cần xem xét, chưa tính",
	store.ResponseSuperseded:  "Đã được thay bằng phiếu sau",
	store.ResponseRejected:    "Không tính (đã từ chối)",
}

func responseStatusLabel(v store.ResponseStatus) string { return label(responseStatusLabels, v) }

var stageLabels = map[store.SMTPStage]string{
	store.StageDial: "kết nối máy chủ",
	store.StageTLS:  "mã hóa TLS",
	store.StageHelo: "chào hỏi (EHLO)",
	store.StageAuth: "đăng nhập máy chủ",
	store.StageMail: "địa chỉ người gửi (MAIL FROM)",
	store.StageRcpt: "địa chỉ người nhận (RCPT TO)",
	store.StageData: "nội dung thư (DATA)",
	store.StageDSN:  "thư báo lỗi nhận về sau",
}

func stageLabel(v store.SMTPStage) string { return label(stageLabels, v) }
