package smtptest_test

import (
	"context"
	"crypto/tls"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"github.com/phieu/phieu/mailer/smtptest"
)

const msg = "From: snv@binhson.gov.test\r\nTo: an@stp.binhson.gov.test\r\nSubject: test\r\n\r\nXin chào\r\n"

func send(c *smtp.Client, mailOpts *smtp.MailOptions, rcptOpts *smtp.RcptOptions) error {
	if err := c.Mail("snv@binhson.gov.test", mailOpts); err != nil {
		return err
	}
	if err := c.Rcpt("an@stp.binhson.gov.test", rcptOpts); err != nil {
		return err
	}
	w, err := c.Data()
	if err != nil {
		return err
	}
	if _, err := w.Write([]byte(msg)); err != nil {
		return err
	}
	return w.Close()
}

func TestRecordsEnvelopeAndDSN(t *testing.T) {
	srv := smtptest.Start(t, smtptest.Options{DSN: true})
	c, err := smtp.Dial(srv.Addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	err = send(c, &smtp.MailOptions{Return: smtp.DSNReturnHeaders, EnvelopeID: "7F3A9CQ2XM"},
		&smtp.RcptOptions{Notify: []smtp.DSNNotify{smtp.DSNNotifyFailure, smtp.DSNNotifyDelayed}})
	if err != nil {
		t.Fatal(err)
	}
	got, err := srv.WaitReceived(context.Background(), 1)
	if err != nil {
		t.Fatal(err)
	}
	m := got[0]
	if m.From != "snv@binhson.gov.test" || m.To[0] != "an@stp.binhson.gov.test" || m.Return != "HDRS" || m.EnvelopeID != "7F3A9CQ2XM" ||
		strings.Join(m.Notify["an@stp.binhson.gov.test"], ",") != "FAILURE,DELAY" || m.Header.Get("Subject") != "test" {
		t.Fatalf("recorded %+v", m)
	}
}

func TestScriptedReplies(t *testing.T) {
	srv := smtptest.Start(t, smtptest.Options{Script: func(s smtptest.Step) smtptest.Reply {
		if s.Stage == smtptest.StageRcpt && s.N == 1 {
			return smtptest.Reply{Code: 450, Enhanced: "4.7.0", Text: "Rate limited"}
		}
		if s.Stage == smtptest.StageData && s.N == 1 {
			return smtptest.Reply{Code: 554, Enhanced: "5.7.1", Text: "Spam"}
		}
		return smtptest.Reply{}
	}})
	c, err := smtp.Dial(srv.Addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var se *smtp.SMTPError
	if err := send(c, nil, nil); !errors.As(err, &se) || se.Code != 450 || se.EnhancedCode != (smtp.EnhancedCode{4, 7, 0}) {
		t.Fatalf("RCPT: %v", err)
	}
	c.Reset()
	if err := send(c, nil, nil); !errors.As(err, &se) || se.Code != 554 {
		t.Fatalf("DATA: %v", err)
	}
	c.Reset()
	if err := send(c, nil, nil); err != nil {
		t.Fatal(err)
	}
	if n := len(srv.Received()); n != 1 {
		t.Fatalf("received %d", n)
	}
}

func TestConnectFaultsAndStalls(t *testing.T) {
	srv := smtptest.Start(t, smtptest.Options{Script: func(s smtptest.Step) smtptest.Reply {
		switch {
		case s.Stage == smtptest.StageConnect && s.Conn == 1:
			return smtptest.Reply{Code: 421, Enhanced: "4.3.2", Text: "Service not available"}
		case s.Stage == smtptest.StageMail:
			return smtptest.Reply{Stall: time.Hour}
		}
		return smtptest.Reply{}
	}})
	c0, err := smtp.Dial(srv.Addr)
	if err == nil {
		err = c0.Hello("phieu.binhson.gov.test") // the greeting may be read lazily
		c0.Close()
	}
	if err == nil || !strings.Contains(err.Error(), "421") {
		t.Fatalf("greeting: %v", err)
	}
	c, err := smtp.Dial(srv.Addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	done := make(chan error, 1)
	go func() { done <- c.Mail("snv@binhson.gov.test", nil) }()
	time.Sleep(50 * time.Millisecond) // let the stall begin; Close must end it
	srv.Close()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Close did not end a stall")
	}
}

func TestTLSAndAuth(t *testing.T) {
	srv := smtptest.Start(t, smtptest.Options{TLS: smtptest.TLSRequireStartTLS, Auth: map[string]string{"khaosat": "mật-khẩu"}})
	c, err := smtp.Dial(srv.Addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Mail("snv@binhson.gov.test", nil); err == nil {
		t.Fatal("MAIL before STARTTLS was accepted")
	}
	c, err = smtp.DialStartTLS(srv.Addr, &tls.Config{ServerName: "mx.binhson.gov.test", RootCAs: srv.CertPool})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Auth(sasl.NewPlainClient("", "khaosat", "sai")); err == nil {
		t.Fatal("wrong password accepted")
	}
	if err := c.Auth(sasl.NewLoginClient("khaosat", "mật-khẩu")); err != nil {
		t.Fatal(err)
	}
	if err := send(c, nil, nil); err != nil {
		t.Fatal(err)
	}
	if m := srv.Received(); len(m) != 1 || !m[0].TLS || m[0].Auth != "khaosat" {
		t.Fatalf("%+v", m)
	}
	// Without the test CA, verification fails.
	c2, err := smtp.DialStartTLS(srv.Addr, &tls.Config{ServerName: "mx.binhson.gov.test"})
	if err == nil {
		defer c2.Close()
		err = c2.Noop() // the handshake may wait for the first command
	}
	if err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("an unknown CA was trusted: %v", err)
	}
}
