package synth_test

import (
	"bytes"
	"testing"

	"github.com/phieu/phieu/store"
	"github.com/phieu/phieu/store/synth"
)

func TestGenerateIsValidAndDeterministic(t *testing.T) {
	a := synth.Generate(7, 60, 500)
	b := synth.Generate(7, 60, 500)
	var ab, bb bytes.Buffer
	if err := a.WriteRespondentsCSV(&ab); err != nil {
		t.Fatal(err)
	}
	_ = b.WriteRespondentsCSV(&bb)
	if !bytes.Equal(ab.Bytes(), bb.Bytes()) {
		t.Fatal("same seed gave different rosters")
	}
	if got, want := len(a.Units), 60; got != want {
		t.Errorf("units = %d, want %d", got, want)
	}
	codes := map[string]bool{}
	for _, u := range a.StoreUnits() {
		if err := u.Validate(); err != nil {
			t.Errorf("unit %s: %v", u.Code, err)
		}
		if u.ParentCode != "" && !codes[u.ParentCode] {
			t.Errorf("unit %s listed before its parent %s", u.Code, u.ParentCode)
		}
		codes[u.Code] = true
	}
	mailboxes := map[string]bool{}
	for _, r := range a.Respondents {
		r.Normalize()
		if err := r.Validate(); err != nil {
			t.Errorf("respondent %s: %v", r.FullName, err)
		}
		if mailboxes[r.Mailbox] {
			t.Errorf("mailbox %s generated twice", r.Mailbox)
		}
		mailboxes[r.Mailbox] = true
		if store.MailboxDomain(r.Mailbox) != synth.Domain {
			t.Errorf("mailbox %s is not on the test domain", r.Mailbox)
		}
	}
}
