package bounce

import (
	"strings"
	"testing"

	"github.com/phieu/phieu/store"
)

// crlf turns a readable literal into a message with CRLF line ends.
func crlf(s string) []byte {
	return []byte(strings.ReplaceAll(strings.TrimLeft(s, "\n"), "\n", "\r\n"))
}

func analyzeOK(t *testing.T, raw []byte) *Report {
	t.Helper()
	r, err := Analyze(raw)
	if err != nil {
		t.Fatalf("Analyze: %v", err)
	}
	return r
}

func only(t *testing.T, r *Report) Failure {
	t.Helper()
	if len(r.Failures) != 1 {
		t.Fatalf("Failures = %+v, want exactly one", r.Failures)
	}
	return r.Failures[0]
}

const postfixDSN = `
Return-Path: <>
From: MAILER-DAEMON@mail.sotaichinh.test (Mail Delivery System)
To: khaosat@phieu.test
Subject: Undelivered Mail Returned to Sender
Auto-Submitted: auto-replied
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status;
	boundary="B1"

--B1
Content-Description: Notification
Content-Type: text/plain; charset=us-ascii

This is the mail system at host mail.sotaichinh.test.

I'm sorry to have to inform you that your message could not
be delivered to one or more recipients.

<nguyen.van.a@sotaichinh.test>: host mx.sotaichinh.test[192.0.2.10] said: 550
    5.1.1 <nguyen.van.a@sotaichinh.test>: Recipient address rejected: User
    unknown in virtual mailbox table (in reply to RCPT TO command)

--B1
Content-Description: Delivery report
Content-Type: message/delivery-status

Reporting-MTA: dns; mail.sotaichinh.test
X-Postfix-Queue-ID: 4F1C2A01
Original-Envelope-Id: phieu-42-7
Arrival-Date: Mon,  6 Mar 2023 08:00:01 +0700 (ICT)

Final-Recipient: rfc822; Nguyen.Van.A@sotaichinh.test
Original-Recipient: rfc822;Nguyen.Van.A@sotaichinh.test
Action: failed
Status: 5.1.1
Remote-MTA: dns; mx.sotaichinh.test
Diagnostic-Code: smtp; 550 5.1.1 <nguyen.van.a@sotaichinh.test>: Recipient
    address rejected: User unknown in virtual mailbox table

--B1
Content-Description: Undelivered Message Headers
Content-Type: text/rfc822-headers

From: =?UTF-8?Q?Kh=E1=BA=A3o_s=C3=A1t?= <khaosat@phieu.test>
To: Nguyen.Van.A@sotaichinh.test
Subject: =?UTF-8?Q?Phi=E1=BA=BFu_kh=E1=BA=A3o_s=C3=A1t?=
Message-ID: <20230306.42.7@phieu.test>
X-Phieu-Ref: 42-7-abc

--B1--
`

func TestPostfixDSN(t *testing.T) {
	r := analyzeOK(t, crlf(postfixDSN))
	if r.Kind != store.InboundBounce {
		t.Fatalf("Kind = %q", r.Kind)
	}
	f := only(t, r)
	if f.Recipient != "nguyen.van.a@sotaichinh.test" || f.Status != "5.1.1" || f.SMTPCode != 550 ||
		f.Class != store.ClassUserUnknown || !f.Hard || f.Action != "failed" || f.RemoteMTA != "mx.sotaichinh.test" {
		t.Errorf("failure = %+v", f)
	}
	if !strings.Contains(f.Diagnostic, "User unknown in virtual mailbox table") || strings.Contains(f.Diagnostic, "\n") {
		t.Errorf("Diagnostic = %q", f.Diagnostic)
	}
	if r.EnvelopeID != "phieu-42-7" || r.OriginalMessageID != "20230306.42.7@phieu.test" || r.OriginalRef != "42-7-abc" {
		t.Errorf("original: env %q id %q ref %q", r.EnvelopeID, r.OriginalMessageID, r.OriginalRef)
	}
	if r.OriginalSubject != "Phiếu khảo sát" {
		t.Errorf("OriginalSubject = %q", r.OriginalSubject)
	}
	if len(r.OriginalTo) != 1 || r.OriginalTo[0] != "nguyen.van.a@sotaichinh.test" {
		t.Errorf("OriginalTo = %v", r.OriginalTo)
	}
	if r.Engine != "Postfix" {
		t.Errorf("Engine = %q", r.Engine)
	}
	if r.AutoReplyReason != "" {
		t.Errorf("a DSN with Auto-Submitted: auto-replied is not an auto-reply: %q", r.AutoReplyReason)
	}
}

func TestDelayDSN(t *testing.T) {
	raw := strings.NewReplacer("Action: failed", "Action: delayed", "Status: 5.1.1", "Status: 4.2.2",
		"550 5.1.1", "452 4.2.2", "User unknown in virtual mailbox table", "Mailbox full").Replace(postfixDSN)
	r := analyzeOK(t, crlf(raw))
	f := only(t, r)
	if r.Kind != store.InboundDelay || f.Class != store.ClassMailboxFull || f.Hard || f.Status != "4.2.2" {
		t.Errorf("kind %q failure %+v", r.Kind, f)
	}
}

const exchangeNDR = `
From: Microsoft Outlook <postmaster@ubnd.test>
To: <khaosat@phieu.test>
Subject: Undeliverable: Phieu khao sat
Date: Tue, 7 Mar 2023 09:12:00 +0700
Message-ID: <ndr-1@ubnd.test>
Content-Language: vi-VN
X-MS-Exchange-Message-Is-Ndr:
Content-Type: text/plain; charset="utf-8"

Your message to tran.thi.b@ubnd.test couldn't be delivered.

tran.thi.b wasn't found at ubnd.test.

Diagnostic information for administrators:

Generating server: MAIL01.ubnd.test

tran.thi.b@ubnd.test
Remote Server returned '550 5.1.10 RESOLVER.ADR.RecipientNotFound; Recipient not found by SMTP address lookup'

Original message headers:

Message-ID: <20230307.9.1@phieu.test>
X-Phieu-Ref: 9-1-zz
Subject: Phieu khao sat
`

func TestExchangeNDR(t *testing.T) {
	r := analyzeOK(t, crlf(exchangeNDR))
	if r.Kind != store.InboundBounce {
		t.Fatalf("Kind = %q", r.Kind)
	}
	f := only(t, r)
	if f.Recipient != "tran.thi.b@ubnd.test" || f.Status != "5.1.10" || f.SMTPCode != 550 || f.Class != store.ClassUserUnknown || !f.Hard {
		t.Errorf("failure = %+v", f)
	}
	if r.Engine != "Exchange" {
		t.Errorf("Engine = %q", r.Engine)
	}
	if r.OriginalMessageID != "20230307.9.1@phieu.test" || r.OriginalRef != "9-1-zz" {
		t.Errorf("original id %q ref %q", r.OriginalMessageID, r.OriginalRef)
	}
}

const vietAutoReply = `
From: =?UTF-8?B?TMOqIFbEg24gQw==?= <le.van.c@sonoivu.test>
To: khaosat@phieu.test
Subject: =?UTF-8?Q?Re:_Phi=E1=BA=BFu_kh=E1=BA=A3o_s=C3=A1t?=
In-Reply-To: <20230301.5.3@phieu.test>
Date: Wed, 1 Mar 2023 10:00:00 +0700
Content-Type: text/plain; charset=utf-8
Content-Transfer-Encoding: quoted-printable

T=C3=B4i =C4=91ang =C4=91i c=C3=B4ng t=C3=A1c =C4=91=E1=BA=BFn h=E1=BA=BFt =
ng=C3=A0y 05/03/2023, s=E1=BA=BD tr=E1=BA=A3 l=E1=BB=9Di khi v=E1=BB=81.
`

func TestVietnameseAutoReply(t *testing.T) {
	r := analyzeOK(t, crlf(vietAutoReply))
	if r.Kind != store.InboundAutoReply {
		t.Fatalf("Kind = %q", r.Kind)
	}
	if !strings.Contains(strings.ToLower(r.AutoReplyReason), "đi công tác") {
		t.Errorf("AutoReplyReason = %q", r.AutoReplyReason)
	}
	if len(r.Failures) != 0 {
		t.Errorf("Failures = %+v", r.Failures)
	}
	if r.OriginalMessageID != "20230301.5.3@phieu.test" {
		t.Errorf("OriginalMessageID = %q, want the In-Reply-To", r.OriginalMessageID)
	}
}

func TestAutoReplyHeaders(t *testing.T) {
	for _, h := range []string{"Auto-Submitted: auto-replied", "X-Autoreply: yes", "X-Autorespond: on", "Precedence: auto_reply",
		"Subject: Out of Office: Phieu", "Subject: Automatic reply: Phieu", "Subject: =?UTF-8?Q?Tr=E1=BA=A3_l=E1=BB=9Di_t=E1=BB=B1_=C4=91=E1=BB=99ng?="} {
		raw := "From: a@so.test\r\nTo: khaosat@phieu.test\r\n" + h + "\r\n\r\nXin chao.\r\n"
		if r := analyzeOK(t, []byte(raw)); r.Kind != store.InboundAutoReply || r.AutoReplyReason == "" {
			t.Errorf("%s: kind %q reason %q", h, r.Kind, r.AutoReplyReason)
		}
	}
}

const qmailWithOriginal = `
From: MAILER-DAEMON@mx.xa.test
To: khaosat@phieu.test
Subject: failure notice
Content-Type: multipart/mixed; boundary="Q"

--Q
Content-Type: text/plain

Hi. This is the qmail-send program at mx.xa.test.
I'm afraid I wasn't able to deliver your message to the following addresses.
This is a permanent error; I've given up. Sorry it didn't work out.

<pham.d@xa.test>:
Sorry, no mailbox here by that name. (#5.1.1)

--Q
Content-Type: message/rfc822

Message-ID: <20230302.77.1@phieu.test>
X-Phieu-Ref: 77-1-q
From: khaosat@phieu.test
To: "Pham D" <pham.d@xa.test>
Subject: Khao sat

Noi dung.
--Q--
`

func TestOriginalOnlyInAttachment(t *testing.T) {
	r := analyzeOK(t, crlf(qmailWithOriginal))
	if r.Kind != store.InboundBounce || r.Engine != "qmail" {
		t.Fatalf("kind %q engine %q", r.Kind, r.Engine)
	}
	f := only(t, r)
	if f.Recipient != "pham.d@xa.test" || f.Status != "5.1.1" || f.Class != store.ClassUserUnknown || !f.Hard {
		t.Errorf("failure = %+v", f)
	}
	if r.OriginalMessageID != "20230302.77.1@phieu.test" || r.OriginalRef != "77-1-q" || r.OriginalSubject != "Khao sat" ||
		len(r.OriginalTo) != 1 || r.OriginalTo[0] != "pham.d@xa.test" {
		t.Errorf("original = %q %q %q %v", r.OriginalMessageID, r.OriginalRef, r.OriginalSubject, r.OriginalTo)
	}
}

func TestEximText(t *testing.T) {
	raw := crlf(`
From: Mail Delivery System <Mailer-Daemon@mx.tinh.test>
To: khaosat@phieu.test
Subject: Mail delivery failed: returning message to sender
X-Failed-Recipients: hop.thu@tinh.test
Auto-Submitted: auto-replied

This message was created automatically by mail delivery software.

A message that you sent could not be delivered to one or more of its
recipients. This is a permanent error. The following address(es) failed:

  hop.thu@tinh.test
    SMTP error from remote mail server after RCPT TO:<hop.thu@tinh.test>:
    host mx2.tinh.test [192.0.2.7]: 552 5.2.2 Mailbox quota exceeded

------ This is a copy of the message, including all the headers. ------

Message-ID: <x1@phieu.test>
From: khaosat@phieu.test
To: hop.thu@tinh.test
`)
	r := analyzeOK(t, raw)
	f := only(t, r)
	if r.Kind != store.InboundBounce || f.Recipient != "hop.thu@tinh.test" || f.Class != store.ClassMailboxFull || f.Status != "5.2.2" || f.Hard {
		t.Errorf("kind %q failure %+v", r.Kind, f)
	}
	if r.OriginalMessageID != "x1@phieu.test" {
		t.Errorf("OriginalMessageID = %q", r.OriginalMessageID)
	}
}

func TestComplaint(t *testing.T) {
	raw := crlf(`
From: feedback@isp.test
To: abuse@phieu.test
Subject: Abuse report
Content-Type: multipart/report; report-type=feedback-report; boundary="F"

--F
Content-Type: text/plain

This is an abuse report.
--F
Content-Type: message/feedback-report

Feedback-Type: abuse
User-Agent: ISP-FBL/1.0
Version: 1
Original-Mail-From: <khaosat@phieu.test>
Original-Rcpt-To: <vo.e@isp.test>
--F
Content-Type: text/rfc822-headers

Message-ID: <c1@phieu.test>
X-Phieu-Ref: 3-3-c
--F--
`)
	r := analyzeOK(t, raw)
	if r.Kind != store.InboundComplaint || r.FeedbackType != "abuse" || r.OriginalRef != "3-3-c" {
		t.Fatalf("report = %+v", r)
	}
	if f := only(t, r); f.Recipient != "vo.e@isp.test" {
		t.Errorf("recipient %q", f.Recipient)
	}
}

func TestReplyAndOther(t *testing.T) {
	reply := analyzeOK(t, crlf(`
From: Nguyen Van A <a@so.test>
To: khaosat@phieu.test
Subject: Re: Phieu khao sat
In-Reply-To: <20230306.42.7@phieu.test>

Toi da dien phieu, cam on.
`))
	if reply.Kind != store.InboundReply {
		t.Errorf("reply: Kind = %q", reply.Kind)
	}
	bulk := analyzeOK(t, crlf(`
From: news@bao.test
To: khaosat@phieu.test
Subject: Ban tin
List-Id: <news.bao.test>
Precedence: bulk

Tin moi.
`))
	if bulk.Kind != store.InboundOther {
		t.Errorf("bulk: Kind = %q", bulk.Kind)
	}
}

func TestNotAMessage(t *testing.T) {
	for _, raw := range []string{"", "\r\n\r\n", "just some words\nand more"} {
		if _, err := Analyze([]byte(raw)); err == nil {
			t.Errorf("Analyze(%q) = nil error", raw)
		}
	}
}

func TestLenientMIME(t *testing.T) {
	// A report without its closing boundary, a header line that is not a
	// field, and 8-bit bytes in a header.
	raw := strings.Replace(postfixDSN, "--B1--", "", 1)
	raw = strings.Replace(raw, "MIME-Version: 1.0", "MIME-Version: 1.0\nthis line is not a field", 1)
	raw = strings.Replace(raw, "Subject: Undelivered", "Subject: \xe2\x80\x9cUndelivered\xff", 1)
	r := analyzeOK(t, crlf(raw))
	if r.Kind != store.InboundBounce || len(r.Failures) != 1 {
		t.Errorf("kind %q failures %+v", r.Kind, r.Failures)
	}
}
