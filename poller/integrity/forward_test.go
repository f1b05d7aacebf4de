package integrity_test

import (
	"reflect"
	"strings"
	"testing"

	"github.com/phieu/phieu/poller/integrity"
)

// The member is an.nv (alias nguyenvanan); phieu writes from khaosat,
// replies come back to khaosat+REF.
func known(mb string) bool {
	switch mb {
	case "an.nv@stp.binhson.gov.test", "nguyenvanan@stp.binhson.gov.test", "khaosat@snv.binhson.gov.test",
		"khaosat+7k3m9qxr2d@snv.binhson.gov.test":
		return true
	}
	return false
}

func TestForwardedElsewhere(t *testing.T) {
	for _, tc := range []struct {
		name     string
		text     string
		wantTo   []string // unknown recipients of the first finding
		wantFrom string   // unknown author of the first finding
		forward  bool
		none     bool
	}{
		{
			name: "GmailEnglishForwardToColleague",
			text: "C1: 8\nC2: A\n\nOn Wed, Mar 1, 2023 at 9:15 AM Trần Thị Bình <binh.tt@stp.binhson.gov.test>\nwrote:\n\n" +
				"> Em gửi lại anh phiếu đã điền.\n>\n> ---------- Forwarded message ---------\n" +
				"> From: Nguyễn Văn An <an.nv@stp.binhson.gov.test>\n> Date: Wed, Mar 1, 2023 at 8:30 AM\n" +
				"> Subject: Fwd: [KS-7K3M9QXR2D] Phiếu khảo sát PAR Index 2022\n> To: Trần Thị Bình <binh.tt@stp.binhson.gov.test>\n>\n" +
				"> ---------- Forwarded message ---------\n> From: Sở Nội vụ <khaosat@snv.binhson.gov.test>\n" +
				"> Date: Tue, Feb 28, 2023 at 8:00 AM\n> Subject: [KS-7K3M9QXR2D] Phiếu khảo sát PAR Index 2022\n" +
				"> To: <an.nv@stp.binhson.gov.test>\n",
			wantTo:  []string{"binh.tt@stp.binhson.gov.test"},
			forward: true,
		},
		{
			name: "GmailForwardBlockOnly",
			text: "C1: 8\n\n---------- Forwarded message ---------\nFrom: Nguyễn Văn An <an.nv@stp.binhson.gov.test>\n" +
				"Date: Wed, Mar 1, 2023 at 8:30 AM\nSubject: Fwd: Phiếu khảo sát\nTo: Trần Thị Bình <binh.tt@stp.binhson.gov.test>\n",
			wantTo: []string{"binh.tt@stp.binhson.gov.test"}, forward: true,
		},
		{
			name: "GmailVietnameseChuyenTiep",
			text: "C1: 8\n\n---------- Thư đã chuyển tiếp ----------\nTừ: Nguyễn Văn An <an.nv@stp.binhson.gov.test>\n" +
				"Ngày: Th 4, 1 thg 3, 2023 lúc 08:30\nTiêu đề: Fwd: Phiếu khảo sát\nĐến: <cuong.lv@stp.binhson.gov.test>\n",
			wantTo: []string{"cuong.lv@stp.binhson.gov.test"}, forward: true,
		},
		{
			name: "OutlookVietnameseBlock",
			text: "C1: 8\r\nC2: B\r\n\r\n________________________________\r\nTừ: Nguyễn Văn An <an.nv@stp.binhson.gov.test>\r\n" +
				"Đã gửi: Thứ Tư, 1 tháng 3, 2023 8:30 SA\r\nĐến: Lê Văn Cường <cuong.lv@stp.binhson.gov.test>; 'Phạm Dung' <dung.p@stp.binhson.gov.test>\r\n" +
				"Chủ đề: CT: Phiếu khảo sát\r\n\r\nNhờ em điền giúp.\r\n",
			wantTo: []string{"cuong.lv@stp.binhson.gov.test", "dung.p@stp.binhson.gov.test"},
		},
		{
			name: "OutlookEnglishOriginalMessageToOther",
			text: "C1: 7\n\n-----Original Message-----\nFrom: an.nv@stp.binhson.gov.test\nSent: Wednesday, March 1, 2023 8:30 AM\n" +
				"To: 'binh.tt@stp.binhson.gov.test'\nSubject: FW: Phiếu khảo sát\n",
			wantTo: []string{"binh.tt@stp.binhson.gov.test"},
		},
		{
			name: "OutlookBoldHTMLToText",
			text: "C1: 7\n\n*From:* Nguyễn Văn An <an.nv@stp.binhson.gov.test>\n*Sent:* Wednesday, March 1, 2023 8:30 AM\n" +
				"*To:* Trần Thị Bình <binh.tt@stp.binhson.gov.test>\n*Subject:* FW: Phiếu khảo sát\n",
			wantTo: []string{"binh.tt@stp.binhson.gov.test"},
		},
		{
			name: "ZimbraVietnameseForward",
			text: "C1: 9\n\n----- Thư chuyển tiếp -----\nTừ: \"Nguyễn Văn An\" <an.nv@stp.binhson.gov.test>\n" +
				"Tới: \"Trần Thị Bình\" <binh.tt@stp.binhson.gov.test>\nĐã gửi: Thứ Tư, 1 Tháng Ba, 2023 8:30:00\nChủ đề: Fwd: Phiếu khảo sát\n",
			wantTo: []string{"binh.tt@stp.binhson.gov.test"}, forward: true,
		},
		{
			name: "ThunderbirdForwardTable",
			text: "C1: 9\n\n-------- Forwarded Message --------\nSubject: \tFwd: Phiếu khảo sát\nDate: \tWed, 1 Mar 2023 08:30:00 +0700\n" +
				"From: \tNguyễn Văn An <an.nv@stp.binhson.gov.test>\nTo: \tTrần Thị Bình <binh.tt@stp.binhson.gov.test>,\n" +
				" Lê Văn Cường <cuong.lv@stp.binhson.gov.test>\n",
			wantTo: []string{"binh.tt@stp.binhson.gov.test", "cuong.lv@stp.binhson.gov.test"}, forward: true,
		},
		{
			name: "AppleMailBeginForwarded",
			text: "C1: 9\n\nBegin forwarded message:\n\nFrom: Nguyễn Văn An <an.nv@stp.binhson.gov.test>\nSubject: Phiếu khảo sát\n" +
				"Date: 1 March 2023 at 08:30:00 GMT+7\nTo: Trần Thị Bình <binh.tt@stp.binhson.gov.test>\n",
			wantTo: []string{"binh.tt@stp.binhson.gov.test"}, forward: true,
		},
		{
			// The member passes on what a colleague filled in.
			name: "ForwardOfAColleaguesReply",
			text: "C1: 9\n\n---------- Forwarded message ---------\nFrom: Trần Thị Bình <binh.tt@stp.binhson.gov.test>\n" +
				"Date: Wed, Mar 1, 2023 at 9:15 AM\nSubject: Re: Fwd: Phiếu khảo sát\nTo: Nguyễn Văn An <an.nv@stp.binhson.gov.test>\n\nC1: 9\n",
			wantFrom: "binh.tt@stp.binhson.gov.test", forward: true,
		},
		// What a member's own reply looks like: nothing to flag.
		{
			name: "OrdinaryOutlookReplyToPlusAddress",
			text: "C1: 8\n\nFrom: Sở Nội vụ <khaosat+7K3M9QXR2D@snv.binhson.gov.test>\nSent: Tuesday, February 28, 2023 8:00 AM\n" +
				"To: an.nv@stp.binhson.gov.test\nSubject: [KS-7K3M9QXR2D] Phiếu khảo sát\n",
			none: true,
		},
		{
			name: "ZimbraForwardOfOwnInvitationToPhieu",
			text: "Tôi gửi lại phiếu.\nC1: 8\n\n----- Forwarded Message -----\nFrom: \"Sở Nội vụ\" <khaosat@snv.binhson.gov.test>\n" +
				"To: \"an nv\" <an.nv@stp.binhson.gov.test>\nSent: Tuesday, February 28, 2023 8:00:00 AM\nSubject: Phiếu khảo sát\n",
			none: true,
		},
		{
			name: "ReplyFromAliasQuotesPrimary",
			text: "C1: 8\n\nOn Tue, Feb 28, 2023 at 8:00 AM Sở Nội vụ <khaosat@snv.binhson.gov.test> wrote:\n> Kính gửi Ông Nguyễn Văn An\n",
			none: true,
		},
		{
			// The unit's clerk passed the invitation on to the member, who
			// answers it: the member still answers themselves.
			name: "ClerkForwardedInvitationToMember",
			text: "C1: 8\n\n---------- Forwarded message ---------\nFrom: Văn thư <vanthu@stp.binhson.gov.test>\n" +
				"Date: Tue, Feb 28, 2023 at 9:00 AM\nSubject: Fwd: Phiếu khảo sát\nTo: <an.nv@stp.binhson.gov.test>\n",
			none: true,
		},
		{
			name: "OwnAnswersThatLookLikeHeaders",
			text: "Thời gian công tác:\nTừ: 2020\nĐến: 2023\nNgày: 01/03/2023\nC1: 8\n",
			none: true,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := integrity.ForwardedElsewhere(integrity.QuotedHeaders(tc.text), known)
			if tc.none {
				if len(got) != 0 {
					t.Fatalf("flagged %+v, want nothing", got)
				}
				return
			}
			if len(got) == 0 {
				t.Fatalf("nothing found in %q", tc.text)
			}
			h := got[0]
			if !reflect.DeepEqual(h.To, tc.wantTo) || h.From != tc.wantFrom {
				t.Errorf("to %q from %q, want to %q from %q", h.To, h.From, tc.wantTo, tc.wantFrom)
			}
			if h.Forward != tc.forward {
				t.Errorf("forward = %v, want %v (marker %q)", h.Forward, tc.forward, h.Marker)
			}
			reason := integrity.ForwardReason(h)
			for _, mb := range append(tc.wantTo, tc.wantFrom) {
				if !strings.Contains(reason, mb) {
					t.Errorf("reason %q does not name %s", reason, mb)
				}
			}
		})
	}
}

func TestForwardReasonNamesTheDate(t *testing.T) {
	hs := integrity.ForwardedElsewhere(integrity.QuotedHeaders("---------- Forwarded message ---------\n"+
		"From: Nguyễn Văn An <an.nv@stp.binhson.gov.test>\nDate: Wed, Mar 1, 2023 at 8:30 AM\nTo: <binh.tt@stp.binhson.gov.test>\n"), known)
	if len(hs) != 1 {
		t.Fatalf("got %d findings, want 1", len(hs))
	}
	want := "thư trả lời trích dẫn thư mời đã được chuyển tiếp tới binh.tt@stp.binhson.gov.test (Wed, Mar 1, 2023 at 8:30 AM): người khác có thể đã trả lời thay thành viên"
	if got := integrity.ForwardReason(hs[0]); got != want {
		t.Errorf("reason\n got %q\nwant %q", got, want)
	}
}
