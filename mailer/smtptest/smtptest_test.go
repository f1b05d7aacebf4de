package smtptest_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"github.com/phieu/phieu/mailer/smtptest"
)

const (
	from = "snv@binhson.gov.test"
	to   = "an@stp.binhson.gov.test"
	// The line starting with a dot checks that dot-stuffing is undone.
	body = "From: snv@binhson.gov.test\r\nTo: an@stp.binhson.gov.test\r\nSubject: =?UTF-8?B?UGhp4bq/dSBraOG6o28gc8OhdA==?=\r\nMessage-ID: <1@phieu.binhson.gov.test>\r\n\r\nXin chào\r\n.chấm đầu dòng\r\n"
)

var users = map[string]string{"khaosat": "mật-khẩu"}

// dial connects a go-smtp client and closes it when the test ends.
func dial(t *testing.T, srv *smtptest.Server) *smtp.Client {
	t.Helper()
	c, err := smtp.Dial(srv.Addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// send runs one transaction: MAIL, one RCPT per address, DATA.
func send(c *smtp.Client, mo *smtp.MailOptions, ro *smtp.RcptOptions, data string, rcpts ...string) error {
	if len(rcpts) == 0 {
		rcpts = []string{to}
	}
	if err := c.Mail(from, mo); err != nil {
		return err
	}
	for _, r := range rcpts {
		if err := c.Rcpt(r, ro); err != nil {
			return err
		}
	}
	w, err := c.Data()
	if err != nil {
		return err
	}
	if _, err := w.Write([]byte(data)); err != nil {
		w.Close()
		return err
	}
	return w.Close()
}

// smtpError returns err as an *smtp.SMTPError or fails the test.
func smtpError(t *testing.T, err error) *smtp.SMTPError {
	t.Helper()
	var se *smtp.SMTPError
	if !errors.As(err, &se) {
		t.Fatalf("want an SMTP reply, got %v", err)
	}
	return se
}

func stages(steps []smtptest.Step) string {
	var s []string
	for _, st := range steps {
		s = append(s, string(st.Stage))
	}
	return strings.Join(s, ",")
}

func TestServer_RecordsMessage(t *testing.T) {
	srv := smtptest.Start(t, smtptest.Options{})
	if !strings.HasPrefix(srv.Addr, "127.0.0.1:") || srv.Host != "127.0.0.1" || srv.Port == 0 {
		t.Fatalf("listening on %q (%q, %d)", srv.Addr, srv.Host, srv.Port)
	}
	c := dial(t, srv)
	if err := send(c, nil, nil, body, to, "binh@stp.binhson.gov.test"); err != nil {
		t.Fatal(err)
	}
	got := srv.Received()
	if len(got) != 1 {
		t.Fatalf("received %d messages", len(got))
	}
	m := got[0]
	if got, want := string(m.Data), strings.Replace(body, "\r\n..", "\r\n.", 1); got != want {
		t.Errorf("data\n got %q\nwant %q", got, want)
	}
	if m.Conn != 1 || m.From != from || !reflect.DeepEqual(m.To, []string{to, "binh@stp.binhson.gov.test"}) ||
		m.Return != "" || m.EnvelopeID != "" || m.Notify != nil || m.Auth != "" || m.TLS {
		t.Errorf("envelope %+v", m)
	}
	if got, want := m.Header.Get("Message-ID"), "<1@phieu.binhson.gov.test>"; got != want {
		t.Errorf("Message-ID %q, want %q", got, want)
	}
	if got, want := m.Header.Get("To"), to; got != want {
		t.Errorf("To %q, want %q", got, want)
	}

	if got, want := stages(srv.Steps()), "connect,mail,rcpt,rcpt,body,data"; got != want {
		t.Fatalf("steps %s, want %s", got, want)
	}
	data := srv.Steps()[5]
	if data.Conn != 1 || data.N != 1 || data.From != from || data.To != to || data.Data != nil {
		t.Errorf("data step %+v", data)
	}
	if c := srv.Conns(); c != 1 {
		t.Errorf("%d connections", c)
	}
}

func TestServer_ScriptedReplies(t *testing.T) {
	for _, tt := range []struct {
		name     string
		stage    smtptest.Stage
		reply    smtptest.Reply
		enhanced smtp.EnhancedCode
	}{
		{"RcptRateLimited", smtptest.StageRcpt, smtptest.Reply{Code: 450, Enhanced: "4.7.0", Text: "Rate limited"}, smtp.EnhancedCode{4, 7, 0}},
		{"RcptUserUnknown", smtptest.StageRcpt, smtptest.Reply{Code: 550, Enhanced: "5.1.1", Text: "User unknown"}, smtp.EnhancedCode{5, 1, 1}},
		{"RcptNoEnhancedCode", smtptest.StageRcpt, smtptest.Reply{Code: 550, Text: "No such user"}, smtp.EnhancedCode{}},
		{"MailTryLater", smtptest.StageMail, smtptest.Reply{Code: 451, Enhanced: "4.3.0", Text: "Try later"}, smtp.EnhancedCode{4, 3, 0}},
		{"DataSpam", smtptest.StageData, smtptest.Reply{Code: 554, Enhanced: "5.7.1", Text: "Message rejected as spam"}, smtp.EnhancedCode{5, 7, 1}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			srv := smtptest.Start(t, smtptest.Options{Script: func(s smtptest.Step) smtptest.Reply {
				if s.Stage == tt.stage && s.N == 1 {
					return tt.reply
				}
				return smtptest.Reply{}
			}})
			c := dial(t, srv)
			se := smtpError(t, send(c, nil, nil, body))
			if se.Code != tt.reply.Code || se.EnhancedCode != tt.enhanced || se.Message != tt.reply.Text {
				t.Fatalf("got %d %v %q", se.Code, se.EnhancedCode, se.Message)
			}
			if n := len(srv.Received()); n != 0 {
				t.Fatalf("a refused message was recorded (%d)", n)
			}
			// The connection goes on: the next transaction is taken.
			if err := c.Reset(); err != nil {
				t.Fatal(err)
			}
			if err := send(c, nil, nil, body); err != nil {
				t.Fatal(err)
			}
			if n := len(srv.Received()); n != 1 {
				t.Fatalf("received %d", n)
			}
		})
	}
}

func TestServer_CountsStagesAcrossConnections(t *testing.T) {
	srv := smtptest.Start(t, smtptest.Options{Script: func(s smtptest.Step) smtptest.Reply {
		if s.Stage == smtptest.StageRcpt && s.N == 3 {
			return smtptest.Reply{Code: 452, Enhanced: "4.5.3", Text: "Too many recipients"}
		}
		return smtptest.Reply{}
	}})
	if err := send(dial(t, srv), nil, nil, body, "a@stp.binhson.gov.test", "b@stp.binhson.gov.test"); err != nil {
		t.Fatal(err)
	}
	err := send(dial(t, srv), nil, nil, body, "c@stp.binhson.gov.test")
	if se := smtpError(t, err); se.Code != 452 {
		t.Fatalf("third RCPT overall: %v", err)
	}
	var rcpts []smtptest.Step
	for _, st := range srv.Steps() {
		if st.Stage == smtptest.StageRcpt {
			rcpts = append(rcpts, st)
		}
	}
	if len(rcpts) != 3 || rcpts[2].Conn != 2 || rcpts[2].N != 3 || rcpts[2].To != "c@stp.binhson.gov.test" {
		t.Fatalf("rcpt steps %+v", rcpts)
	}
}

func TestServer_Drop(t *testing.T) {
	// A body large enough that the client is still writing when the
	// server cuts the connection.
	big := body + strings.Repeat("Lorem ipsum dolor sit amet, consectetur adipiscing elit.\r\n", 1<<14)
	for _, tt := range []struct {
		name  string
		stage smtptest.Stage
		steps string
	}{
		{"MidData", smtptest.StageBody, "connect,mail,rcpt,body"},
		{"AfterDataBeforeReply", smtptest.StageData, "connect,mail,rcpt,body,data"},
		{"AtRcpt", smtptest.StageRcpt, "connect,mail,rcpt"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			srv := smtptest.Start(t, smtptest.Options{Script: func(s smtptest.Step) smtptest.Reply {
				return smtptest.Reply{Drop: s.Stage == tt.stage}
			}})
			c := dial(t, srv)
			err := send(c, nil, nil, big)
			if err == nil {
				t.Fatal("a dropped connection looked like success")
			}
			if n := len(srv.Received()); n != 0 {
				t.Fatalf("a dropped message was recorded (%d)", n)
			}
			steps := srv.Steps()
			if got := stages(steps); got != tt.steps {
				t.Fatalf("steps %s, want %s", got, tt.steps)
			}
			if err := c.Noop(); err == nil {
				t.Fatal("the connection survived the drop")
			}
		})
	}
}

func TestServer_ReadsOnlyTheFirstLineBeforeMidDataDrop(t *testing.T) {
	first := make(chan []byte, 1)
	srv := smtptest.Start(t, smtptest.Options{Script: func(s smtptest.Step) smtptest.Reply {
		if s.Stage == smtptest.StageBody {
			first <- bytes.Clone(s.Data)
			return smtptest.Reply{Drop: true}
		}
		return smtptest.Reply{}
	}})
	if err := send(dial(t, srv), nil, nil, body); err == nil {
		t.Fatal("no error")
	}
	if got, want := string(<-first), "From: snv@binhson.gov.test\r\n"; got != want {
		t.Fatalf("body step saw %q, want %q", got, want)
	}
}

func TestServer_Greeting421(t *testing.T) {
	srv := smtptest.Start(t, smtptest.Options{Script: func(s smtptest.Step) smtptest.Reply {
		if s.Stage == smtptest.StageConnect && s.Conn == 1 {
			return smtptest.Reply{Code: 421, Enhanced: "4.3.2", Text: "Service not available"}
		}
		return smtptest.Reply{}
	}})
	err := dial(t, srv).Hello("phieu.binhson.gov.test") // the client reads the greeting here
	if se := smtpError(t, err); se.Code != 421 || se.EnhancedCode != (smtp.EnhancedCode{4, 3, 2}) || se.Message != "Service not available" {
		t.Fatalf("greeting %d %v %q", se.Code, se.EnhancedCode, se.Message)
	}
	if err := send(dial(t, srv), nil, nil, body); err != nil {
		t.Fatalf("second connection: %v", err)
	}
	if got, want := stages(srv.Steps()), "connect,connect,mail,rcpt,body,data"; got != want {
		t.Fatalf("steps %s, want %s", got, want)
	}
	if n := srv.Conns(); n != 2 {
		t.Fatalf("%d connections", n)
	}
}

func TestServer_MaxConns(t *testing.T) {
	srv := smtptest.Start(t, smtptest.Options{MaxConns: 1})
	if err := dial(t, srv).Hello("phieu.binhson.gov.test"); err != nil {
		t.Fatal(err)
	}
	err := dial(t, srv).Hello("phieu.binhson.gov.test")
	if se := smtpError(t, err); se.Code != 421 || se.EnhancedCode != (smtp.EnhancedCode{4, 7, 0}) {
		t.Fatalf("second connection: %v", err)
	}
	if n := srv.Conns(); n != 2 {
		t.Fatalf("%d connections", n)
	}
}

func TestServer_Stall(t *testing.T) {
	t.Run("DelaysTheReply", func(t *testing.T) {
		srv := smtptest.Start(t, smtptest.Options{Script: func(s smtptest.Step) smtptest.Reply {
			if s.Stage == smtptest.StageRcpt {
				return smtptest.Reply{Stall: 100 * time.Millisecond}
			}
			return smtptest.Reply{}
		}})
		start := time.Now()
		if err := send(dial(t, srv), nil, nil, body); err != nil {
			t.Fatal(err)
		}
		if d := time.Since(start); d < 100*time.Millisecond {
			t.Fatalf("answered after %v", d)
		}
	})

	t.Run("AbortedByClose", func(t *testing.T) {
		stalled := make(chan struct{})
		srv := smtptest.Start(t, smtptest.Options{Script: func(s smtptest.Step) smtptest.Reply {
			if s.Stage == smtptest.StageMail {
				close(stalled)
				return smtptest.Reply{Stall: time.Hour}
			}
			return smtptest.Reply{}
		}})
		c := dial(t, srv)
		done := make(chan error, 1)
		go func() { done <- c.Mail(from, nil) }()
		<-stalled
		start := time.Now()
		srv.Close()
		if d := time.Since(start); d > 5*time.Second {
			t.Fatalf("Close took %v", d)
		}
		select {
		case err := <-done:
			if err == nil {
				t.Fatal("MAIL succeeded on a closed server")
			}
		case <-time.After(5 * time.Second):
			t.Fatal("the client still waits after Close")
		}
		if err := srv.Close(); err != nil {
			t.Fatalf("second Close: %v", err)
		}
	})

	t.Run("BeforeGreetingHoldsOnlyThatConnection", func(t *testing.T) {
		stalled := make(chan struct{})
		srv := smtptest.Start(t, smtptest.Options{Script: func(s smtptest.Step) smtptest.Reply {
			if s.Stage == smtptest.StageConnect && s.Conn == 1 {
				close(stalled)
				return smtptest.Reply{Stall: time.Hour}
			}
			return smtptest.Reply{}
		}})
		c1 := dial(t, srv)
		done := make(chan error, 1)
		go func() { done <- c1.Hello("phieu.binhson.gov.test") }()
		<-stalled
		if err := send(dial(t, srv), nil, nil, body); err != nil {
			t.Fatalf("second connection: %v", err)
		}
		srv.Close()
		select {
		case err := <-done:
			if err == nil {
				t.Fatal("greeted after Close")
			}
		case <-time.After(5 * time.Second):
			t.Fatal("the stalled client still waits after Close")
		}
	})
}

func TestServer_Auth(t *testing.T) {
	srv := smtptest.Start(t, smtptest.Options{Auth: users})
	c := dial(t, srv)
	if err := c.Hello("phieu.binhson.gov.test"); err != nil {
		t.Fatal(err)
	}
	if !c.SupportsAuth(sasl.Plain) || !c.SupportsAuth(sasl.Login) {
		t.Fatal("AUTH PLAIN and LOGIN not offered")
	}

	t.Run("ErrAuthRequired", func(t *testing.T) {
		err := c.Mail(from, nil)
		if se := smtpError(t, err); se.Code != 530 || se.EnhancedCode != (smtp.EnhancedCode{5, 7, 0}) {
			t.Fatalf("MAIL before AUTH: %v", err)
		}
	})
	t.Run("ErrWrongPassword", func(t *testing.T) {
		err := c.Auth(sasl.NewPlainClient("", "khaosat", "sai"))
		if se := smtpError(t, err); se.Code != 535 || se.EnhancedCode != (smtp.EnhancedCode{5, 7, 8}) {
			t.Fatalf("wrong password: %v", err)
		}
	})
	t.Run("ErrUnknownUser", func(t *testing.T) {
		err := c.Auth(sasl.NewLoginClient("ai-do", "mật-khẩu"))
		if se := smtpError(t, err); se.Code != 535 {
			t.Fatalf("unknown user: %v", err)
		}
	})
	t.Run("Login", func(t *testing.T) {
		if err := c.Auth(sasl.NewLoginClient("khaosat", "mật-khẩu")); err != nil {
			t.Fatal(err)
		}
		if err := send(c, nil, nil, body); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("Plain", func(t *testing.T) {
		c := dial(t, srv)
		if err := c.Auth(sasl.NewPlainClient("", "khaosat", "mật-khẩu")); err != nil {
			t.Fatal(err)
		}
		if err := send(c, nil, nil, body); err != nil {
			t.Fatal(err)
		}
	})

	got := srv.Received()
	if len(got) != 2 || got[0].Auth != "khaosat" || got[1].Auth != "khaosat" || got[0].Conn != 1 || got[1].Conn != 2 {
		t.Fatalf("received %+v", got)
	}
	var auths []string
	for _, st := range srv.Steps() {
		if st.Stage == smtptest.StageAuth {
			auths = append(auths, st.User)
		}
	}
	if got, want := strings.Join(auths, ","), "khaosat,ai-do,khaosat,khaosat"; got != want {
		t.Fatalf("auth steps %s, want %s", got, want)
	}
}

func TestServer_RequireStartTLS(t *testing.T) {
	srv := smtptest.Start(t, smtptest.Options{TLS: smtptest.TLSRequireStartTLS, Auth: users})
	if ca, err := os.ReadFile(srv.CAFile); err != nil || !bytes.Equal(ca, srv.CAPEM) || len(ca) == 0 {
		t.Fatalf("CA file: %v", err)
	}

	t.Run("ErrBeforeStartTLS", func(t *testing.T) {
		c := dial(t, srv)
		if err := c.Hello("phieu.binhson.gov.test"); err != nil {
			t.Fatal(err)
		}
		if ok, _ := c.Extension("STARTTLS"); !ok {
			t.Fatal("STARTTLS not offered")
		}
		if c.SupportsAuth(sasl.Plain) {
			t.Fatal("AUTH offered in clear text")
		}
		if err := c.Auth(sasl.NewPlainClient("", "khaosat", "mật-khẩu")); err == nil {
			t.Fatal("AUTH accepted in clear text")
		}
		err := c.Mail(from, nil)
		if se := smtpError(t, err); se.Code != 530 || se.EnhancedCode != (smtp.EnhancedCode{5, 7, 0}) {
			t.Fatalf("MAIL before STARTTLS: %v", err)
		}
	})

	// The certificate is good for the EHLO domain, localhost and 127.0.0.1.
	for _, name := range []string{"mx.binhson.gov.test", "localhost", ""} {
		t.Run("Verified/"+name, func(t *testing.T) {
			c, err := smtp.DialStartTLS(srv.Addr, &tls.Config{ServerName: name, RootCAs: srv.CertPool})
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			if err := c.Auth(sasl.NewPlainClient("", "khaosat", "mật-khẩu")); err != nil {
				t.Fatal(err)
			}
			if err := send(c, nil, nil, body); err != nil {
				t.Fatal(err)
			}
		})
	}
	got := srv.Received()
	if len(got) != 3 || !got[0].TLS || got[0].Auth != "khaosat" {
		t.Fatalf("received %+v", got)
	}

	t.Run("ErrUnknownCA", func(t *testing.T) {
		err := firstReply(smtp.DialStartTLS(srv.Addr, &tls.Config{ServerName: "mx.binhson.gov.test"}))
		var unknown x509.UnknownAuthorityError
		if !errors.As(err, &unknown) {
			t.Fatalf("a certificate from an unknown CA was trusted: %v", err)
		}
	})
	t.Run("ErrWrongName", func(t *testing.T) {
		err := firstReply(smtp.DialStartTLS(srv.Addr, &tls.Config{ServerName: "mx.example.test", RootCAs: srv.CertPool}))
		var invalid x509.HostnameError
		if !errors.As(err, &invalid) {
			t.Fatalf("a certificate for another name was trusted: %v", err)
		}
	})
}

func TestServer_StartTLSOptional(t *testing.T) {
	srv := smtptest.Start(t, smtptest.Options{TLS: smtptest.TLSStartTLS})
	if err := send(dial(t, srv), nil, nil, body); err != nil {
		t.Fatal(err)
	}
	c, err := smtp.DialStartTLS(srv.Addr, &tls.Config{RootCAs: srv.CertPool})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := send(c, nil, nil, body); err != nil {
		t.Fatal(err)
	}
	got := srv.Received()
	if len(got) != 2 || got[0].TLS || !got[1].TLS {
		t.Fatalf("received %+v", got)
	}
}

func TestServer_UntrustedCert(t *testing.T) {
	srv := smtptest.Start(t, smtptest.Options{TLS: smtptest.TLSStartTLS, UntrustedCert: true})
	err := firstReply(smtp.DialStartTLS(srv.Addr, &tls.Config{ServerName: "mx.binhson.gov.test", RootCAs: srv.CertPool}))
	var unknown x509.UnknownAuthorityError
	if !errors.As(err, &unknown) {
		t.Fatalf("a certificate not signed by CAPEM was trusted: %v", err)
	}
}

func TestServer_ImplicitTLS(t *testing.T) {
	srv := smtptest.Start(t, smtptest.Options{TLS: smtptest.TLSImplicit, Auth: users})
	c, err := smtp.DialTLS(srv.Addr, &tls.Config{ServerName: "mx.binhson.gov.test", RootCAs: srv.CertPool})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Hello("phieu.binhson.gov.test"); err != nil {
		t.Fatal(err)
	}
	if ok, _ := c.Extension("STARTTLS"); ok {
		t.Fatal("STARTTLS offered inside TLS")
	}
	if err := c.Auth(sasl.NewLoginClient("khaosat", "mật-khẩu")); err != nil {
		t.Fatal(err)
	}
	if err := send(c, nil, nil, body); err != nil {
		t.Fatal(err)
	}
	if got := srv.Received(); len(got) != 1 || !got[0].TLS || got[0].Auth != "khaosat" || got[0].Conn != 1 {
		t.Fatalf("received %+v", got)
	}

	t.Run("ErrUnknownCA", func(t *testing.T) {
		err := firstReply(smtp.DialTLS(srv.Addr, &tls.Config{ServerName: "mx.binhson.gov.test"}))
		var unknown x509.UnknownAuthorityError
		if !errors.As(err, &unknown) {
			t.Fatalf("a certificate from an unknown CA was trusted: %v", err)
		}
	})
	t.Run("Greeting421", func(t *testing.T) {
		srv.SetScript(func(s smtptest.Step) smtptest.Reply {
			if s.Stage == smtptest.StageConnect {
				return smtptest.Reply{Code: 421, Enhanced: "4.3.2", Text: "Service not available"}
			}
			return smtptest.Reply{}
		})
		err := firstReply(smtp.DialTLS(srv.Addr, &tls.Config{ServerName: "mx.binhson.gov.test", RootCAs: srv.CertPool}))
		if se := smtpError(t, err); se.Code != 421 {
			t.Fatalf("greeting: %v", err)
		}
	})
}

func TestServer_DSN(t *testing.T) {
	srv := smtptest.Start(t, smtptest.Options{DSN: true})
	c := dial(t, srv)
	if err := c.Hello("phieu.binhson.gov.test"); err != nil {
		t.Fatal(err)
	}
	if ok, _ := c.Extension("DSN"); !ok {
		t.Fatal("DSN not advertised")
	}
	err := send(c, &smtp.MailOptions{Return: smtp.DSNReturnHeaders, EnvelopeID: "PAR2022.7F3A9CQ2XM"},
		&smtp.RcptOptions{Notify: []smtp.DSNNotify{smtp.DSNNotifyFailure, smtp.DSNNotifyDelayed}}, body, to, "binh@stp.binhson.gov.test")
	if err != nil {
		t.Fatal(err)
	}
	m := srv.Received()[0]
	want := map[string][]string{to: {"FAILURE", "DELAY"}, "binh@stp.binhson.gov.test": {"FAILURE", "DELAY"}}
	if m.Return != "HDRS" || m.EnvelopeID != "PAR2022.7F3A9CQ2XM" || !reflect.DeepEqual(m.Notify, want) {
		t.Fatalf("recorded RET %q ENVID %q NOTIFY %v", m.Return, m.EnvelopeID, m.Notify)
	}

	t.Run("NotAdvertisedByDefault", func(t *testing.T) {
		c := dial(t, smtptest.Start(t, smtptest.Options{}))
		if err := c.Hello("phieu.binhson.gov.test"); err != nil {
			t.Fatal(err)
		}
		if ok, _ := c.Extension("DSN"); ok {
			t.Fatal("DSN advertised")
		}
	})
}

// New serves outside a test, as `phieu demo` runs it, until Close.
func TestNew(t *testing.T) {
	srv, err := smtptest.New(smtptest.Options{DSN: true})
	if err != nil {
		t.Fatal(err)
	}
	c := dial(t, srv)
	if err := send(c, &smtp.MailOptions{EnvelopeID: "DEMO.7F3A9CQ2XM"}, nil, body); err != nil {
		t.Fatal(err)
	}
	if got := srv.Received(); len(got) != 1 || got[0].EnvelopeID != "DEMO.7F3A9CQ2XM" {
		t.Fatalf("received %+v", got)
	}
	if err := srv.Close(); err != nil {
		t.Fatal(err)
	}
	if c, err := smtp.Dial(srv.Addr); err == nil {
		c.Close()
		t.Fatal("still accepting connections after Close")
	}

	t.Run("TLSNeedsATest", func(t *testing.T) {
		if srv, err := smtptest.New(smtptest.Options{TLS: smtptest.TLSStartTLS}); err == nil {
			srv.Close()
			t.Fatal("New started a TLS server without test certificates")
		}
	})
}

func TestServer_WaitReceived(t *testing.T) {
	srv := smtptest.Start(t, smtptest.Options{})
	errc := make(chan error, 1)
	go func() {
		c, err := smtp.Dial(srv.Addr)
		if err != nil {
			errc <- err
			return
		}
		defer c.Close()
		for range 3 {
			if err := send(c, nil, nil, body); err != nil {
				errc <- err
				return
			}
		}
		errc <- nil
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	got, err := srv.WaitReceived(ctx, 3)
	if err != nil || len(got) != 3 {
		t.Fatalf("got %d: %v", len(got), err)
	}
	if err := <-errc; err != nil {
		t.Fatal(err)
	}

	short, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	got, err = srv.WaitReceived(short, 4)
	if !errors.Is(err, context.DeadlineExceeded) || len(got) != 3 {
		t.Fatalf("waiting for a 4th: %d, %v", len(got), err)
	}
}

func TestServer_SetScriptWhileRunning(t *testing.T) {
	srv := smtptest.Start(t, smtptest.Options{})
	c := dial(t, srv)
	if err := send(c, nil, nil, body); err != nil {
		t.Fatal(err)
	}
	srv.SetScript(func(s smtptest.Step) smtptest.Reply {
		if s.Stage == smtptest.StageData {
			return smtptest.Reply{Code: 452, Enhanced: "4.3.1", Text: "Insufficient system storage"}
		}
		return smtptest.Reply{}
	})
	if se := smtpError(t, send(c, nil, nil, body)); se.Code != 452 {
		t.Fatalf("after SetScript: %d", se.Code)
	}
	srv.SetScript(nil)
	if err := send(c, nil, nil, body); err != nil {
		t.Fatal(err)
	}
	if n := len(srv.Received()); n != 2 {
		t.Fatalf("received %d", n)
	}
}

// firstReply closes a client after one command and returns the first error:
// a TLS handshake may wait for the first command to fail.
func firstReply(c *smtp.Client, err error) error {
	if err != nil {
		return err
	}
	defer c.Close()
	return c.Noop()
}
