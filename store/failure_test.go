package store_test

import (
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
