package smtptest

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/mail"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

var (
	errTLSRequired  = &smtp.SMTPError{Code: 530, EnhancedCode: smtp.EnhancedCode{5, 7, 0}, Message: "Must issue a STARTTLS command first"}
	errAuthRequired = &smtp.SMTPError{Code: 530, EnhancedCode: smtp.EnhancedCode{5, 7, 0}, Message: "Authentication required"}
	errBadAuth      = &smtp.SMTPError{Code: 535, EnhancedCode: smtp.EnhancedCode{5, 7, 8}, Message: "Authentication credentials invalid"}
	errDropped      = errors.New("smtptest: connection dropped by script")
)

// err turns a scripted refusal into the error go-smtp sends as a reply.
func (r Reply) err() error {
	if r.Code == 0 {
		return nil
	}
	e := &smtp.SMTPError{Code: r.Code, EnhancedCode: smtp.NoEnhancedCode, Message: r.Text}
	if r.Enhanced != "" {
		var ec smtp.EnhancedCode
		if _, err := fmt.Sscanf(r.Enhanced, "%d.%d.%d", &ec[0], &ec[1], &ec[2]); err == nil {
			e.EnhancedCode = ec
		} else {
			e.Message = r.Enhanced + " " + e.Message // sent as written
		}
	}
	if e.Message == "" {
		e.Message = "Scripted reply"
	}
	return e
}

type backend struct{ s *Server }

func (b backend) NewSession(c *smtp.Conn) (smtp.Session, error) {
	return &session{s: b.s, c: c, conn: connNumber(c.Conn())}, nil
}

// session is one go-smtp session. go-smtp starts a new one after STARTTLS.
type session struct {
	s    *Server
	c    *smtp.Conn
	conn int
	user string
	msg  Message
}

var _ smtp.AuthSession = (*session)(nil)

func (ss *session) tls() bool {
	_, ok := ss.c.TLSConnectionState()
	return ok
}

func (ss *session) drop() error {
	ss.c.Conn().Close()
	return errDropped
}

// answer applies a scripted reply: nil accepts.
func (ss *session) answer(r Reply) error {
	if r.Drop {
		return ss.drop()
	}
	return r.err()
}

func (ss *session) AuthMechanisms() []string {
	if ss.s.opts.Auth == nil {
		return nil
	}
	return []string{sasl.Plain, sasl.Login}
}

func (ss *session) Auth(mech string) (sasl.Server, error) {
	if ss.s.opts.Auth == nil {
		return nil, smtp.ErrAuthUnsupported
	}
	check := func(user, pass string) error {
		if ss.s.opts.TLS == TLSRequireStartTLS && !ss.tls() {
			return errTLSRequired
		}
		if err := ss.answer(ss.s.decide(Step{Stage: StageAuth, Conn: ss.conn, User: user})); err != nil {
			return err
		}
		if want, ok := ss.s.opts.Auth[user]; !ok || want != pass {
			return errBadAuth
		}
		ss.user = user
		return nil
	}
	switch mech {
	case sasl.Plain:
		return sasl.NewPlainServer(func(identity, user, pass string) error {
			if identity != "" && identity != user {
				return errBadAuth
			}
			return check(user, pass)
		}), nil
	case sasl.Login:
		return &loginServer{check: check}, nil
	}
	return nil, smtp.ErrAuthUnknownMechanism
}

// loginServer is the server side of AUTH LOGIN, which go-sasl lacks.
type loginServer struct {
	check func(user, pass string) error
	user  string
	step  int
}

func (l *loginServer) Next(resp []byte) ([]byte, bool, error) {
	switch l.step {
	case 0:
		if resp == nil { // no initial response: ask for the user name
			l.step = 1
			return []byte("Username:"), false, nil
		}
		l.user, l.step = string(resp), 2
		return []byte("Password:"), false, nil
	case 1:
		l.user, l.step = string(resp), 2
		return []byte("Password:"), false, nil
	}
	return nil, true, l.check(l.user, string(resp))
}

func (ss *session) Mail(from string, opts *smtp.MailOptions) error {
	if ss.s.opts.TLS == TLSRequireStartTLS && !ss.tls() {
		return errTLSRequired
	}
	if ss.s.opts.Auth != nil && ss.user == "" {
		return errAuthRequired
	}
	if err := ss.answer(ss.s.decide(Step{Stage: StageMail, Conn: ss.conn, From: from})); err != nil {
		return err
	}
	ss.msg = Message{Conn: ss.conn, From: from, Auth: ss.user, TLS: ss.tls()}
	if opts != nil {
		ss.msg.Return, ss.msg.EnvelopeID = string(opts.Return), opts.EnvelopeID
	}
	return nil
}

func (ss *session) Rcpt(to string, opts *smtp.RcptOptions) error {
	if err := ss.answer(ss.s.decide(Step{Stage: StageRcpt, Conn: ss.conn, From: ss.msg.From, To: to})); err != nil {
		return err
	}
	ss.msg.To = append(ss.msg.To, to)
	if opts != nil && len(opts.Notify) > 0 {
		if ss.msg.Notify == nil {
			ss.msg.Notify = map[string][]string{}
		}
		for _, n := range opts.Notify {
			ss.msg.Notify[to] = append(ss.msg.Notify[to], string(n))
		}
	}
	return nil
}

func (ss *session) Data(r io.Reader) error {
	step := Step{Conn: ss.conn, From: ss.msg.From}
	if len(ss.msg.To) > 0 {
		step.To = ss.msg.To[0]
	}

	// Read the first line only: the client is still sending the rest, so
	// a Drop now cuts the connection mid-DATA.
	head, err := readLine(r, 512)
	if err != nil {
		return err
	}
	step.Stage, step.Data = StageBody, head
	if r := ss.s.decide(step); r.Drop {
		return ss.drop()
	}

	rest, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	data := append(head, rest...)
	step.Stage, step.Data = StageData, data
	m := ss.msg
	m.To = append([]string(nil), m.To...)
	m.Data = data
	if pm, err := mail.ReadMessage(bytes.NewReader(data)); err == nil {
		m.Header = pm.Header
	}
	reply := ss.s.decide(step)
	if reply.Queued && reply.Code == 0 {
		ss.s.accept(m)
		return ss.answer(reply)
	}
	if err := ss.answer(reply); err != nil {
		return err
	}
	ss.s.accept(m)
	return nil
}

// readLine reads up to and including the first LF, at most max bytes, one
// byte at a time so that nothing past it is taken from the connection.
func readLine(r io.Reader, max int) ([]byte, error) {
	var line []byte
	b := make([]byte, 1)
	for len(line) < max {
		n, err := r.Read(b)
		if n == 1 {
			line = append(line, b[0])
			if b[0] == '\n' {
				break
			}
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
	}
	return line, nil
}

func (ss *session) Reset()        { ss.msg = Message{} }
func (ss *session) Logout() error { return nil }
