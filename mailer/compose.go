package mailer

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"time"

	mail "github.com/wneessen/go-mail"

	"github.com/phieu/phieu/store"
	"github.com/phieu/phieu/templates"
)

// Composer renders outbox messages with each campaign's templates and turns
// them into MIME. It caches template sets per campaign.
type Composer struct {
	mu   sync.Mutex
	sets map[string]*templates.Set // by template directory; "" is the default set
}

// NewComposer returns a Composer.
func NewComposer() *Composer { return &Composer{sets: map[string]*templates.Set{}} }

func (p *Composer) set(dir string) (*templates.Set, error) {
	if dir == "" {
		return templates.Default(), nil
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if s, ok := p.sets[dir]; ok {
		return s, nil
	}
	s, err := templates.Load(dir)
	if err != nil {
		return nil, err
	}
	p.sets[dir] = s
	return s, nil
}

// Render renders m for the campaign c at now.
func (p *Composer) Render(m *store.OutboxMessage, c *store.Campaign, now time.Time) (*templates.Message, error) {
	kind, err := templates.ParseKind(string(m.Kind))
	if err != nil {
		return nil, err
	}
	d := templates.Data{}
	if len(m.Payload) > 0 {
		// Receipts, corrections and digests carry their data, fixed when
		// they were queued, so a retry says the same thing.
		if err := json.Unmarshal(m.Payload, &d); err != nil {
			return nil, fmt.Errorf("render %s %d: payload: %w", m.Kind, m.ID, err)
		}
	}
	d.Campaign, d.Respondent, d.Unit, d.Now, d.Round = c, m.Respondent, m.Unit, now, m.Round
	if m.Ref != "" {
		d.Ref = store.SubjectCode(m.Ref)
	}
	set, err := p.set(c.TemplateDir)
	if err != nil {
		return nil, err
	}
	msg, err := set.Render(kind, &d)
	if err != nil {
		return nil, fmt.Errorf("render %s %d: %w", m.Kind, m.ID, err)
	}
	return msg, nil
}

// EnvelopeSender is where bounces go: the survey mailbox phieu reads, with
// the reference as a plus address when the campaign enables subaddressing.
func EnvelopeSender(m *store.OutboxMessage, c *store.Campaign) string {
	return plusAddress(c.ReplyTo, m.Ref, c.Subaddressing)
}

func plusAddress(addr, ref string, on bool) string {
	if !on || ref == "" {
		return addr
	}
	at := strings.LastIndexByte(addr, '@')
	if at < 0 {
		return addr
	}
	return addr[:at] + "+" + strings.ToLower(ref) + addr[at:]
}

// Compose returns the MIME message: From the campaign's sender, Reply-To the
// survey mailbox, the stable Message-ID, a text part and an HTML
// alternative, UTF-8 quoted-printable, headers RFC 2047-encoded.
func Compose(m *store.OutboxMessage, c *store.Campaign, r *templates.Message, now time.Time) ([]byte, error) {
	msg := mail.NewMsg(mail.WithNoDefaultUserAgent(), mail.WithCharset(mail.CharsetUTF8), mail.WithEncoding(mail.EncodingQP))
	if err := msg.FromFormat(c.SenderName, c.SenderAddress); err != nil {
		return nil, fmt.Errorf("compose: from %q: %w", c.SenderAddress, err)
	}
	if err := msg.AddToFormat(m.ToName, m.To); err != nil {
		return nil, fmt.Errorf("compose: to %q: %w", m.To, err)
	}
	if err := msg.ReplyToFormat(c.SenderName, plusAddress(c.ReplyTo, m.Ref, c.Subaddressing)); err != nil {
		return nil, fmt.Errorf("compose: reply-to %q: %w", c.ReplyTo, err)
	}
	msg.Subject(r.Subject)
	msg.SetMessageIDWithValue(strings.Trim(m.MessageID, "<>"))
	msg.SetDateWithValue(now.In(c.Loc()))
	msg.SetGenHeader(mail.HeaderXMailer, "phieu")
	if m.Ref != "" {
		// Not a secret: an opaque reference that survives in bounces
		// returning only headers (RET=HDRS).
		msg.SetGenHeader("X-Phieu-Ref", m.Ref)
	}
	if !m.Kind.ToRespondent() || m.Kind == store.KindReceipt {
		// RFC 3834: no auto-replies to receipts and digests. Invitations
		// and reminders ask for a reply and leave it out, so that an
		// out-of-office answer tells the operator someone is away.
		msg.SetGenHeader("Auto-Submitted", "auto-generated")
	}
	msg.SetBodyString(mail.TypeTextPlain, r.Text)
	if r.HTML != "" {
		msg.AddAlternativeString(mail.TypeTextHTML, r.HTML)
	}
	for _, a := range r.Attachments {
		if err := msg.AttachReader(a.Name, bytes.NewReader(a.Data), mail.WithFileContentType(mail.ContentType(a.ContentType))); err != nil {
			return nil, fmt.Errorf("compose: attach %s: %w", a.Name, err)
		}
	}
	var buf bytes.Buffer
	buf.Grow(len(r.Text)*2 + len(r.HTML)*2 + 1024)
	if _, err := msg.WriteTo(&buf); err != nil {
		return nil, fmt.Errorf("compose: %w", err)
	}
	return buf.Bytes(), nil
}
