package web_test

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"testing"

	"github.com/phieu/phieu/store"
	"github.com/phieu/phieu/store/sqlite"
)

// The integrity page: the fixture's reply from a secretary's mailbox,
// flagged, counted under its unit and listed with its reason; operators
// only.
func TestIntegrityPage(t *testing.T) {
	fx := newFixture(t)
	ctx := context.Background()
	if _, err := sqlite.NewInboundService(fx.DB, nil).RecordFlags(ctx, []*store.IntegrityFlag{
		{ResponseID: fx.NeedsReview, Kind: store.FlagOtherMailbox, Reason: "trả lời gửi từ hộp thư thuky<b>@stp.binhson.gov.test"},
		{ResponseID: fx.NeedsReview, Kind: store.FlagAnswerCluster, Reason: "3 trong 4 phiếu trả lời của đơn vị <b>STP</b> giống hệt nhau"},
	}); err != nil {
		t.Fatal(err)
	}
	ts := fx.serve(t, nil)

	anon := newClient(t, ts)
	if resp := anon.get("/integrity"); resp.Status != http.StatusSeeOther || resp.Header.Get("Location") != "/login?next="+url.QueryEscape("/integrity") {
		t.Errorf("GET /integrity without a session: %d to %q", resp.Status, resp.Header.Get("Location"))
	}

	op := newClient(t, ts)
	op.signIn(operatorName, operatorPassword)
	page := op.mustGet("/integrity")
	mustContain(t, "integrity page", page,
		`<a href="/integrity?c=PAR2025" class="active" aria-current="page">Toàn vẹn</a>`,
		"<b>1</b> / ", "phiếu có dấu hiệu cần xem xét",
		"Hộp thư khác", "Hộp thư dùng chung", "Thư mời bị chuyển tiếp", "Cụm câu trả lời giống nhau",
		// The store keeps a mailbox flag's kind, not the mailbox (that stays
		// with the inbound message); a cluster's reason is kept, escaped.
		"trả lời từ hộp thư khác",
		"3 trong 4 phiếu trả lời của đơn vị &lt;b&gt;STP&lt;/b&gt; giống hệt nhau",
		fmt.Sprintf(`href="/review?c=PAR2025#response-%d"`, fx.NeedsReview),
		"Các cờ (2)",
	)
	mustNotContain(t, "integrity page", page, "4711", "KIẾN RIÊNG", "thuky", "<b>STP")
	mustContain(t, "operator's navigation", op.mustGet("/"), `href="/integrity?c=PAR2025"`)

	li := newClient(t, ts)
	li.signIn(liaisonName, liaisonPassword)
	if resp := li.get("/integrity"); resp.Status != http.StatusForbidden {
		t.Errorf("liaison GET /integrity: %d, want 403", resp.Status)
	}
	mustNotContain(t, "liaison's navigation", li.mustGet("/"), `href="/integrity`)
}
