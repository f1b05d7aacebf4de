package store_test

import (
	"strings"
	"testing"

	"github.com/phieu/phieu/store"
)

func TestClassifyFailureFromStatus(t *testing.T) {
	for _, tt := range []struct {
		code   int
		status string
		want   store.FailureClass
	}{
		{550, "5.1.1", store.ClassUserUnknown}, {552, "5.2.2", store.ClassMailboxFull}, {452, "4.2.2", store.ClassMailboxFull},
		{550, "5.1.2", store.ClassHostUnknown}, {550, "5.2.1", store.ClassMailboxDisabled}, {552, "5.3.4", store.ClassMessageTooLarge},
		{554, "", store.ClassOther}, {0, "", store.ClassOther},
	} {
		if got := store.ClassifyFailure(tt.code, tt.status, ""); got != tt.want {
			t.Errorf("ClassifyFailure(%d, %q) = %q, want %q", tt.code, tt.status, got, tt.want)
		}
	}
}

func TestClassifyFailureFromText(t *testing.T) {
	for _, tt := range []struct {
		code   int
		status string
		text   string
		want   store.FailureClass
	}{
		// The text decides over a vague or contradicting status.
		{550, "5.7.1", "550 5.7.1 <a@b.test>: Recipient address rejected: User unknown in local recipient table", store.ClassUserUnknown},
		{550, "5.0.0", "550 Mailbox quota exceeded", store.ClassMailboxFull},
		{554, "5.7.1", "554 5.7.1 Message rejected as spam by Content Filtering", store.ClassContentRejected},
		{550, "5.7.1", "550 5.7.1 Service unavailable; client host [192.0.2.1] blocked using zen.spamhaus.org", store.ClassSenderRejected},
		{550, "", "550 Relay access denied", store.ClassSenderRejected},
		{550, "5.7.26", "550-5.7.26 Unauthenticated email is not accepted; to protect users from spam and phishing...", store.ClassSenderRejected},
		{421, "4.7.0", "421 4.7.0 Too many connections from your host, try again later", store.ClassThrottled},
		{550, "", "550 Host unknown", store.ClassHostUnknown},
		{451, "4.4.0", "DNS lookup failure: try again", store.ClassRemoteError}, // a DNS failure that may pass
		{550, "5.4.4", "Sorry, I couldn't find a mail exchanger or IP address. (#5.4.4)", store.ClassHostUnknown},
		{552, "", "552 Message size exceeds fixed maximum message size", store.ClassMessageTooLarge},
		{550, "", "550 Account disabled", store.ClassMailboxDisabled},
		{0, "4.4.7", "Message expired: unable to deliver in 840 minutes", store.ClassExpired},
		{550, "", "550 Requested action not taken: mailbox unavailable", store.ClassUserUnknown},
		// The status decides when the text is silent.
		{550, "5.2.1", "", store.ClassMailboxDisabled},
		{550, "5.3.0", "Other mail system problem", store.ClassRemoteError},
		{550, "", "550 5.1.1 <x@y.test>... User unknown", store.ClassUserUnknown}, // status found in the text
		// Vietnamese servers and gateways.
		{550, "", "Địa chỉ thư không tồn tại", store.ClassUserUnknown},
		{552, "", "Hộp thư đã đầy, không nhận thêm thư", store.ClassMailboxFull},
		{550, "", "Tài khoản đã bị khóa", store.ClassMailboxDisabled},
		{550, "", "Tên miền không tồn tại", store.ClassHostUnknown},
		{554, "", "Thư bị chặn vì nghi là thư rác", store.ClassContentRejected},
		// Where it was refused says who was refused.
		{550, "5.1.1", "550 5.1.1 User unknown (in reply to end of DATA command)", store.ClassContentRejected},
		{550, "", "SMTP error from remote mail server after MAIL FROM:<s@phieu.test>: 550 No such domain", store.ClassSenderRejected},
	} {
		if got := store.ClassifyFailure(tt.code, tt.status, tt.text); got != tt.want {
			t.Errorf("ClassifyFailure(%d, %q, %q) = %q, want %q", tt.code, tt.status, tt.text, got, tt.want)
		}
	}
}

func TestHard(t *testing.T) {
	for _, tt := range []struct {
		class  store.FailureClass
		status string
		want   bool
	}{
		{store.ClassUserUnknown, "5.1.1", true}, {store.ClassHostUnknown, "5.1.2", true}, {store.ClassMailboxDisabled, "5.2.1", true},
		{store.ClassUserUnknown, "4.1.1", false}, {store.ClassHostUnknown, "4.4.3", false},
		{store.ClassMailboxFull, "5.2.2", false}, {store.ClassSenderRejected, "5.7.1", false}, {store.ClassContentRejected, "5.7.1", false},
		{store.ClassExpired, "5.4.7", false}, {store.ClassUserUnknown, "", true}, {store.ClassUserUnknown, "2.0.0", false},
	} {
		if got := tt.class.Hard(tt.status); got != tt.want {
			t.Errorf("%s.Hard(%q) = %v, want %v", tt.class, tt.status, got, tt.want)
		}
	}
}

// A unit head is asked only for what is in their hands: an address or a
// mailbox; the rest is the IT department's.
func TestHeadAdvice(t *testing.T) {
	for _, c := range store.FailureClasses {
		a := c.HeadAdvice()
		switch c {
		case store.ClassUserUnknown, store.ClassHostUnknown:
			if !strings.Contains(a, "địa chỉ thư đúng") {
				t.Errorf("%s: %q", c, a)
			}
		case store.ClassMailboxFull:
			if !strings.Contains(a, "xóa bớt thư") {
				t.Errorf("%s: %q", c, a)
			}
		case store.ClassMailboxDisabled:
			if !strings.Contains(a, "hộp thư") {
				t.Errorf("%s: %q", c, a)
			}
		default:
			if a != "Bộ phận kỹ thuật đang xử lý" {
				t.Errorf("%s: %q asks the head for what IT does", c, a)
			}
		}
	}
}
