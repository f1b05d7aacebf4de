package web_test

import (
	"context"
	"encoding/base64"
	"fmt"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/phieu/phieu/cmd/phieu/web"
	"github.com/phieu/phieu/store"
	"github.com/phieu/phieu/store/sqlite"
	"github.com/phieu/phieu/store/storetest"
	"github.com/phieu/phieu/store/synth"
)

func mustContain(tb testing.TB, what, body string, wants ...string) {
	tb.Helper()
	for _, w := range wants {
		if !strings.Contains(body, w) {
			tb.Errorf("%s lacks %q", what, w)
		}
	}
}

func mustNotContain(tb testing.TB, what, body string, unwanted ...string) {
	tb.Helper()
	for _, w := range unwanted {
		if strings.Contains(body, w) {
			tb.Errorf("%s contains %q", what, w)
		}
	}
}

func auditEntries(tb testing.TB, db *sqlite.DB, action store.AuditAction) []*store.AuditEntry {
	tb.Helper()
	es, err := sqlite.NewAuditService(db).FindAudit(context.Background(), store.AuditFilter{Action: action})
	if err != nil {
		tb.Fatal(err)
	}
	return es
}

func memberStatus(tb testing.TB, db *sqlite.DB, respondentID int64) store.MemberStatus {
	tb.Helper()
	m, err := sqlite.NewCampaignService(db).FindMember(context.Background(), campaignCode, respondentID)
	if err != nil {
		tb.Fatal(err)
	}
	return m.Status
}

func responseStatus(tb testing.TB, db *sqlite.DB, id int64) store.ResponseStatus {
	tb.Helper()
	rs, err := sqlite.NewInboundService(db, nil).FindResponses(context.Background(), campaignCode, respondentOf(tb, db, id))
	if err != nil {
		tb.Fatal(err)
	}
	for _, r := range rs {
		if r.ID == id {
			return r.Status
		}
	}
	tb.Fatalf("response %d not found", id)
	return ""
}

func respondentOf(tb testing.TB, db *sqlite.DB, responseID int64) int64 {
	tb.Helper()
	cs, err := sqlite.NewDashboardService(db).FindResponseContexts(context.Background(), []int64{responseID})
	if err != nil || cs[responseID] == nil {
		tb.Fatalf("response %d: %v", responseID, err)
	}
	rs, err := sqlite.NewRespondentService(db).FindRespondents(context.Background(), store.RespondentFilter{Mailbox: cs[responseID].Mailbox})
	if err != nil || len(rs) != 1 {
		tb.Fatalf("respondent of response %d: %v", responseID, err)
	}
	return rs[0].ID
}

func TestSignInRequired(t *testing.T) {
	fx := newFixture(t)
	c := newClient(t, fx.serve(t, nil))
	for _, path := range []string{"/", "/units", "/units/STP", "/failures", fmt.Sprintf("/failures/%d", fx.Failed), "/review", "/outbox"} {
		resp := c.get(path)
		if resp.Status != http.StatusSeeOther || resp.Header.Get("Location") != "/login?next="+url.QueryEscape(path) {
			t.Errorf("GET %s without a session: %d to %q", path, resp.Status, resp.Header.Get("Location"))
		}
	}
	for _, path := range []string{fmt.Sprintf("/review/%d/accept", fx.NeedsReview), "/outbox/pause"} {
		if resp := c.post(path, url.Values{"c": {campaignCode}}); resp.Status != http.StatusForbidden {
			t.Errorf("POST %s without a session: %d", path, resp.Status)
		}
	}
	if got := responseStatus(t, fx.DB, fx.NeedsReview); got != store.ResponseNeedsReview {
		t.Errorf("a POST without a session changed the response to %s", got)
	}
	// Signing in brings the browser back where it was going.
	page := c.get("/login?next=" + url.QueryEscape("/units/STP"))
	resp := c.post("/login", url.Values{"csrf": {csrf(t, page.Body)}, "next": {"/units/STP"}, "name": {operatorName}, "password": {operatorPassword}})
	if resp.Status != http.StatusSeeOther || resp.Header.Get("Location") != "/units/STP" {
		t.Errorf("sign in: %d to %q", resp.Status, resp.Header.Get("Location"))
	}
	// A "next" elsewhere is not followed.
	c2 := newClient(t, fx.serve(t, nil))
	page = c2.get("/login")
	resp = c2.post("/login", url.Values{"csrf": {csrf(t, page.Body)}, "next": {"//evil.invalid/x"}, "name": {operatorName}, "password": {operatorPassword}})
	if resp.Header.Get("Location") != "/" {
		t.Errorf("sign in with next elsewhere went to %q", resp.Header.Get("Location"))
	}
}

func TestSignIn(t *testing.T) {
	fx := newFixture(t)
	ts := fx.serve(t, nil)

	t.Run("BadPassword", func(t *testing.T) {
		fx := newFixture(t)
		c := newClient(t, fx.serve(t, nil))
		for _, form := range []url.Values{
			{"name": {operatorName}, "password": {"mật khẩu sai"}},
			{"name": {"không.có.ai"}, "password": {operatorPassword}},
			{"name": {operatorName}, "password": {""}},
			{"token": {"not-a-token-0123456789abcdef"}},
		} {
			resp := c.login(form)
			if resp.Status != http.StatusUnauthorized {
				t.Errorf("%v: %d", form, resp.Status)
			}
			mustContain(t, "refused sign-in", resp.Body, "Tên đăng nhập, mật khẩu hoặc mã truy cập không đúng.")
			if resp := c.get("/"); resp.Status != http.StatusSeeOther {
				t.Errorf("%v: a page answers %d after a refused sign-in", form, resp.Status)
			}
			fx.Real.Add(time.Minute) // past the backoff
		}
		failed := 0
		for _, e := range auditEntries(t, fx.DB, store.AuditLogin) {
			if strings.Contains(e.Detail, "result=failed") {
				failed++
				if e.Actor != "web:"+operatorName && e.Actor != "web:không.có.ai" && e.Actor != "web:token" {
					t.Errorf("failed sign-in audited as %q", e.Actor)
				}
			}
		}
		if failed != 4 {
			t.Errorf("%d failed sign-ins audited, want 4", failed)
		}
	})

	t.Run("Backoff", func(t *testing.T) {
		fx := newFixture(t)
		c := newClient(t, fx.serve(t, nil))
		for i := range 3 {
			if resp := c.login(url.Values{"name": {operatorName}, "password": {"sai"}}); resp.Status != http.StatusUnauthorized {
				t.Fatalf("failure %d: %d", i+1, resp.Status)
			}
		}
		// The fourth attempt must wait, even with the right password.
		resp := c.login(url.Values{"name": {operatorName}, "password": {operatorPassword}})
		if resp.Status != http.StatusTooManyRequests || resp.Header.Get("Retry-After") != "1" {
			t.Fatalf("attempt after 3 failures: %d, Retry-After %q", resp.Status, resp.Header.Get("Retry-After"))
		}
		mustContain(t, "slowed sign-in", resp.Body, "Vui lòng thử lại sau 1 giây")
		fx.Real.Add(time.Second)
		if resp := c.login(url.Values{"name": {operatorName}, "password": {"sai"}}); resp.Status != http.StatusUnauthorized {
			t.Fatalf("after waiting: %d", resp.Status)
		}
		fx.Real.Add(time.Second) // the fifth failure doubled the wait
		if resp := c.login(url.Values{"name": {operatorName}, "password": {operatorPassword}}); resp.Status != http.StatusTooManyRequests {
			t.Fatalf("one second after the fifth failure: %d", resp.Status)
		}
		fx.Real.Add(time.Second)
		if resp := c.login(url.Values{"name": {operatorName}, "password": {operatorPassword}}); resp.Status != http.StatusSeeOther {
			t.Fatalf("two seconds after the fifth failure: %d", resp.Status)
		}
	})

	t.Run("Token", func(t *testing.T) {
		c := newClient(t, ts)
		if resp := c.login(url.Values{"token": {liaisonToken}}); resp.Status != http.StatusSeeOther {
			t.Fatalf("token sign-in: %d", resp.Status)
		}
		body := c.mustGet("/")
		mustContain(t, "overview after a liaison token", body, "cán bộ kỹ thuật (chỉ xem)", "token-")
		mustNotContain(t, "liaison's navigation", body, `href="/review`)
		ok := false
		for _, e := range auditEntries(t, fx.DB, store.AuditLogin) {
			ok = ok || strings.HasPrefix(e.Actor, "web:token-") && strings.Contains(e.Detail, "result=ok")
		}
		if !ok {
			t.Error("the token sign-in is not audited")
		}
	})

	t.Run("WithoutFormToken", func(t *testing.T) {
		c := newClient(t, ts)
		if resp := c.post("/login", url.Values{"name": {operatorName}, "password": {operatorPassword}}); resp.Status != http.StatusForbidden {
			t.Errorf("sign-in without the form's CSRF token: %d", resp.Status)
		}
		c.get("/login")
		if resp := c.post("/login", url.Values{"csrf": {"forged"}, "name": {operatorName}, "password": {operatorPassword}}); resp.Status != http.StatusForbidden {
			t.Errorf("sign-in with a wrong CSRF token: %d", resp.Status)
		}
	})

	t.Run("SessionExpiresAndLogout", func(t *testing.T) {
		fx := newFixture(t)
		ts := fx.serve(t, nil)
		c := newClient(t, ts)
		token := c.signIn(operatorName, operatorPassword)
		fx.Real.Add(12*time.Hour - time.Second)
		c.mustGet("/")
		fx.Real.Add(time.Second)
		if resp := c.get("/"); resp.Status != http.StatusSeeOther {
			t.Errorf("after 12 hours: %d", resp.Status)
		}
		token = c.signIn(operatorName, operatorPassword)
		if resp := c.post("/logout", url.Values{"csrf": {token}}); resp.Status != http.StatusSeeOther {
			t.Errorf("logout: %d", resp.Status)
		}
		if resp := c.get("/"); resp.Status != http.StatusSeeOther {
			t.Errorf("after logout: %d", resp.Status)
		}
	})

	t.Run("ForgedCookie", func(t *testing.T) {
		c := newClient(t, ts)
		c.signIn(liaisonName, liaisonPassword)
		u, _ := url.Parse(ts.URL)
		for _, ck := range c.http.Jar.Cookies(u) {
			if ck.Name == "phieu_session" {
				// Claim the operator role with the liaison's signature.
				body, sig, _ := strings.Cut(ck.Value, ".")
				payload, err := base64.RawURLEncoding.DecodeString(body)
				if err != nil || !strings.Contains(string(payload), `"r":"liaison"`) {
					t.Fatalf("session payload %q: %v", payload, err)
				}
				payload = []byte(strings.Replace(string(payload), `"r":"liaison"`, `"r":"operator"`, 1))
				forged := base64.RawURLEncoding.EncodeToString(payload) + "." + sig
				c.http.Jar.SetCookies(u, []*http.Cookie{{Name: "phieu_session", Value: forged, Path: "/"}})
			}
		}
		if resp := c.get("/review"); resp.Status != http.StatusSeeOther {
			t.Errorf("a forged session cookie got %d", resp.Status)
		}
	})
}

func TestRoles(t *testing.T) {
	fx := newFixture(t)
	ts := fx.serve(t, nil)
	c := newClient(t, ts)
	token := c.signIn(liaisonName, liaisonPassword)

	if resp := c.get("/review"); resp.Status != http.StatusForbidden {
		t.Errorf("liaison GET /review: %d", resp.Status)
	}
	for _, path := range []string{fmt.Sprintf("/review/%d/accept", fx.NeedsReview), fmt.Sprintf("/review/%d/reject", fx.NeedsReview), "/outbox/pause"} {
		if resp := c.post(path, url.Values{"csrf": {token}, "c": {campaignCode}}); resp.Status != http.StatusForbidden {
			t.Errorf("liaison POST %s: %d", path, resp.Status)
		}
	}
	if got := responseStatus(t, fx.DB, fx.NeedsReview); got != store.ResponseNeedsReview {
		t.Errorf("a liaison changed the response to %s", got)
	}
	// Counts of a unit, never its members' names.
	body := c.mustGet("/units/STP")
	mustContain(t, "liaison's unit page", body, "Sở Tư pháp", "Danh sách thành viên chỉ hiển thị cho người điều hành.")
	mustNotContain(t, "liaison's unit page", body, "Phạm Minh Đức", "duc.pm@stp.binhson.gov.test")
	c.mustGet("/failures")
	c.mustGet(fmt.Sprintf("/failures/%d", fx.Failed))
	outbox := c.mustGet("/outbox")
	mustNotContain(t, "liaison's outbox", outbox, "/outbox/pause", "Tạm dừng gửi thư")

	op := newClient(t, ts)
	op.signIn(operatorName, operatorPassword)
	mustContain(t, "operator's outbox", op.mustGet("/outbox"), `action="/outbox/pause"`)
	mustContain(t, "operator's unit page", op.mustGet("/units/STP"), "Phạm Minh Đức", "duc.pm@stp.binhson.gov.test", "Lê Thị Ánh")
}

func TestCSRF(t *testing.T) {
	fx := newFixture(t)
	c := newClient(t, fx.serve(t, nil))
	token := c.signIn(operatorName, operatorPassword)
	accept := fmt.Sprintf("/review/%d/accept", fx.NeedsReview)
	for name, form := range map[string]url.Values{
		"missing": {"c": {campaignCode}},
		"wrong":   {"c": {campaignCode}, "csrf": {token[:len(token)-2] + "xx"}},
		"empty":   {"c": {campaignCode}, "csrf": {""}},
	} {
		if resp := c.post(accept, form); resp.Status != http.StatusForbidden {
			t.Errorf("%s CSRF token: %d", name, resp.Status)
		}
	}
	if resp := c.post("/outbox/pause", url.Values{"c": {campaignCode}}); resp.Status != http.StatusForbidden {
		t.Errorf("pause without a CSRF token: %d", resp.Status)
	}
	if resp := c.post("/logout", url.Values{}); resp.Status != http.StatusForbidden {
		t.Errorf("logout without a CSRF token: %d", resp.Status)
	}
	if got := responseStatus(t, fx.DB, fx.NeedsReview); got != store.ResponseNeedsReview {
		t.Errorf("a forged POST changed the response to %s", got)
	}
	if st, _ := sqlite.NewCampaignService(fx.DB).FindCampaignState(context.Background(), campaignCode); st != store.CampaignActive {
		t.Errorf("a forged POST paused the campaign: %s", st)
	}
	// Every form of every page carries the token.
	for _, path := range []string{"/", "/review", "/outbox", "/units/STP"} {
		body := c.mustGet(path)
		forms, tokens := strings.Count(body, "<form method=\"post\""), strings.Count(body, `name="csrf" value="`+token+`"`)
		if forms == 0 || forms != tokens {
			t.Errorf("%s: %d POST forms, %d with the CSRF token", path, forms, tokens)
		}
	}
}

func TestReadOnly(t *testing.T) {
	fx := newFixture(t)
	c := newClient(t, fx.serve(t, func(cfg *web.Config) { cfg.ReadOnly = true }))
	token := c.signIn(operatorName, operatorPassword)
	for _, path := range []string{fmt.Sprintf("/review/%d/accept", fx.NeedsReview), "/outbox/pause"} {
		if resp := c.post(path, url.Values{"csrf": {token}, "c": {campaignCode}}); resp.Status != http.StatusForbidden {
			t.Errorf("read-only POST %s: %d", path, resp.Status)
		}
	}
	review := c.mustGet("/review")
	mustContain(t, "read-only review page", review, "Lê Thị Ánh", "chỉ xem")
	mustNotContain(t, "read-only review page", review, "Chấp nhận</button>", "/accept")
	mustNotContain(t, "read-only outbox", c.mustGet("/outbox"), "/outbox/pause")
	if got := responseStatus(t, fx.DB, fx.NeedsReview); got != store.ResponseNeedsReview {
		t.Errorf("a read-only server changed the response to %s", got)
	}
	if resp := c.post("/logout", url.Values{"csrf": {token}}); resp.Status != http.StatusSeeOther {
		t.Errorf("logout on a read-only server: %d", resp.Status)
	}
}

func TestReview(t *testing.T) {
	fx := newFixture(t)
	c := newClient(t, fx.serve(t, nil))
	token := c.signIn(operatorName, operatorPassword)
	anh := respondentOf(t, fx.DB, fx.NeedsReview)

	page := c.mustGet("/review")
	mustContain(t, "review page", page, "Lê Thị Ánh", "thuky.stp@stp.binhson.gov.test", "không phải hộp thư của thành viên",
		"Bùi Thị Ngọc Lan", "Trả lời sau hạn, chưa tính", "Đủ câu trả lời", "Phòng Ngân sách")

	resp := c.post(fmt.Sprintf("/review/%d/accept", fx.NeedsReview), url.Values{"csrf": {token}, "c": {campaignCode}})
	if resp.Status != http.StatusSeeOther || resp.Header.Get("Location") != "/review?c="+campaignCode {
		t.Fatalf("accept: %d to %q\n%s", resp.Status, resp.Header.Get("Location"), resp.Body)
	}
	page = c.mustGet("/review?c=" + campaignCode)
	mustContain(t, "review page after accepting", page, "Đã chấp nhận phiếu trả lời của Lê Thị Ánh")
	mustNotContain(t, "review page after accepting", page, fmt.Sprintf(`id="response-%d"`, fx.NeedsReview))
	if again := c.mustGet("/review"); strings.Contains(again, "Đã chấp nhận") {
		t.Error("the flash message is shown twice")
	}
	if got := memberStatus(t, fx.DB, anh); got != store.StatusAnswered {
		t.Errorf("after accepting: member %s", got)
	}

	resp = c.post(fmt.Sprintf("/review/%d/reject", fx.Late), url.Values{"csrf": {token}, "c": {campaignCode}})
	if resp.Status != http.StatusSeeOther {
		t.Fatalf("reject: %d", resp.Status)
	}
	mustContain(t, "review page after rejecting", c.mustGet("/review"), "Đã từ chối phiếu trả lời của Bùi Thị Ngọc Lan", "Không có phiếu nào đang chờ quyết định.")
	if got := responseStatus(t, fx.DB, fx.Late); got != store.ResponseRejected {
		t.Errorf("after rejecting: response %s", got)
	}

	// Deciding twice is refused, and said so.
	c.post(fmt.Sprintf("/review/%d/accept", fx.NeedsReview), url.Values{"csrf": {token}, "c": {campaignCode}})
	mustContain(t, "review page after a second decision", c.mustGet("/review"), `class="flash error"`, "Không thực hiện được")

	// Entries name the member, never the response id (which would link
	// people to their answers).
	for _, tc := range []struct {
		action  store.AuditAction
		id      int64
		mailbox string
	}{{store.AuditReviewAccept, fx.NeedsReview, "anh.lt@"}, {store.AuditReviewReject, fx.Late, "lan.btn@"}} {
		es := auditEntries(t, fx.DB, tc.action)
		if len(es) != 1 || es[0].Actor != "web:"+operatorName || es[0].Campaign != campaignCode || !strings.HasPrefix(es[0].Subject, "respondent ") ||
			strings.Contains(es[0].Subject+es[0].Detail, fmt.Sprint(tc.id)) || !strings.Contains(es[0].Detail, "mailbox="+tc.mailbox) {
			t.Errorf("%s audit: %+v", tc.action, es)
			for _, e := range es {
				t.Logf("  %+v", *e)
			}
		}
	}
}

func TestPauseResume(t *testing.T) {
	fx := newFixture(t)
	c := newClient(t, fx.serve(t, nil))
	token := c.signIn(operatorName, operatorPassword)
	campaigns := sqlite.NewCampaignService(fx.DB)
	for _, step := range []struct {
		path string
		want store.CampaignState
		text string
	}{
		{"/outbox/pause", store.CampaignPaused, "Đã tạm dừng gửi thư của đợt khảo sát PAR2025."},
		{"/outbox/resume", store.CampaignActive, "Đã tiếp tục gửi thư của đợt khảo sát PAR2025."},
	} {
		if resp := c.post(step.path, url.Values{"csrf": {token}, "c": {campaignCode}}); resp.Status != http.StatusSeeOther {
			t.Fatalf("%s: %d", step.path, resp.Status)
		}
		if st, err := campaigns.FindCampaignState(context.Background(), campaignCode); err != nil || st != step.want {
			t.Errorf("after %s: %s, %v", step.path, st, err)
		}
		mustContain(t, "outbox after "+step.path, c.mustGet("/outbox"), step.text)
	}
	es := auditEntries(t, fx.DB, store.AuditCampaignState)
	n := 0
	for _, e := range es {
		if e.Actor == "web:"+operatorName && e.Campaign == campaignCode {
			n++
		}
	}
	if n != 2 {
		t.Errorf("%d campaign state changes audited as the operator, want 2: %+v", n, es)
	}
}

func TestPages(t *testing.T) {
	fx := newFixture(t)
	c := newClient(t, fx.serve(t, nil))
	c.signIn(operatorName, operatorPassword)

	overview := c.mustGet("/")
	mustContain(t, "overview", overview,
		"Khảo sát Chỉ số cải cách hành chính năm 2025",
		"Còn 7 ngày 13 giờ",         // 10:02 on 04/07 to 23:59:59 on 11/07
		"23 giờ 59 ngày 11/07/2025", // in the campaign's zone
		"<p class=\"big\">50%</p>",  // 3 answered and 1 under review of 8
		"4 / 8 người đã trả lời",
		"Sở Tư pháp", "75% (3/4)", "Sở Tài chính", "0% (0/2)", "UBND xã Phú Thủy", "50% (1/2)",
		"<td>01/07/2025</td><td class=\"n\">1</td><td class=\"n\">1</td>",
		"<td>02/07/2025</td><td class=\"n\">2</td><td class=\"n\">3</td>",
		"<td>04/07/2025</td><td class=\"n\">0</td><td class=\"n\">3</td>",
		"Chờ gửi <b>0</b> · Tạm hoãn <b>1</b> · Không thành công <b>1</b>",
	)
	units := c.mustGet("/units")
	mustContain(t, "unit tree", units, `class="depth0"`, `class="depth1"`, `class="depth2"`, "Văn phòng Sở Tư pháp", "Thanh tra Sở Tư pháp", "Phòng Ngân sách")
	unit := c.mustGet("/units/STP-VP")
	mustContain(t, "unit page", unit, "Hoàng Văn Dũng", "Chánh Văn phòng", "dung.hv@stp.binhson.gov.test", "Địa chỉ thư lỗi",
		"Thư mời: Gửi không thành công", `href="/units/STP?c=PAR2025"`)

	failures := c.mustGet("/failures")
	mustContain(t, "failures", failures, "hộp thư không tồn tại", "hộp thư đầy", "Địa chỉ hộp thư không tồn tại trên máy chủ nhận.",
		"stp.binhson.gov.test", "stc.binhson.gov.test", fmt.Sprintf(`href="/failures/%d"`, fx.Failed))
	filtered := c.mustGet("/failures?class=mailbox_full")
	mustContain(t, "failures by class", filtered, "khanh.dq@stc.binhson.gov.test")
	mustNotContain(t, "failures by class", filtered, `<td class="mail">dung.hv@stp.binhson.gov.test</td>`)
	failure := c.mustGet(fmt.Sprintf("/failures/%d", fx.Failed))
	mustContain(t, "failure page", failure, "Hoàng Văn Dũng", "dung.hv@stp.binhson.gov.test", "Nội dung máy chủ trả về",
		"Recipient address rejected: User unknown", "địa chỉ người nhận (RCPT TO)", "550", "5.1.1")

	outbox := c.mustGet("/outbox")
	mustContain(t, "outbox", outbox, "Tạm hoãn, sẽ gửi lại", "Đặng Quốc Khánh", "khanh.dq@stc.binhson.gov.test",
		"01/07/2025 12:02", // the next attempt, four hours after 08:02
		"452 4.2.2 452 4.2.2 Mailbox full: quota exceeded")

	if resp := c.get("/units/NOPE"); resp.Status != http.StatusNotFound {
		t.Errorf("unknown unit: %d", resp.Status)
	}
	if resp := c.get("/failures/999999"); resp.Status != http.StatusNotFound {
		t.Errorf("unknown message: %d", resp.Status)
	}
	if resp := c.get("/?c=NOPE"); resp.Status != http.StatusNotFound {
		t.Errorf("unknown campaign: %d", resp.Status)
	}
	if resp := c.get("/nowhere"); resp.Status != http.StatusNotFound {
		t.Errorf("unknown page: %d", resp.Status)
	}

	// No page shows an answer.
	for _, path := range []string{"/", "/units", "/units/STP", "/units/XPT", "/failures", "/review", "/outbox",
		fmt.Sprintf("/failures/%d", fx.Failed), fmt.Sprintf("/failures/%d", fx.Deferred)} {
		mustNotContain(t, path, c.mustGet(path), "4711", "KIẾN RIÊNG")
	}
}

func TestCampaignSelector(t *testing.T) {
	fx := newFixture(t)
	older := &store.Campaign{Code: "SIPAS2024", Title: "Khảo sát sự hài lòng năm 2024", SenderName: "Sở Nội vụ",
		SenderAddress: "khaosat@snv.binhson.gov.test", ReplyTo: "khaosat@snv.binhson.gov.test",
		OpensAt: time.Date(2024, 10, 1, 8, 0, 0, 0, ict), Deadline: store.DeadlineEndOfDay(store.Date{Year: 2024, Month: 10, Day: 31}, ict),
		Groups:        []string{"LDS"},
		Questionnaire: store.Questionnaire{Questions: []store.Question{{Code: "C1", Text: "Hài lòng?", Type: store.AnswerScale, Min: 1, Max: 5}}}}
	if err := sqlite.NewCampaignService(fx.DB).CreateCampaign(context.Background(), older); err != nil {
		t.Fatal(err)
	}
	c := newClient(t, fx.serve(t, nil))
	c.signIn(operatorName, operatorPassword)
	body := c.mustGet("/")
	mustContain(t, "overview with two campaigns", body, `<option value="PAR2025" selected>`, `<option value="SIPAS2024">`,
		"Khảo sát Chỉ số cải cách hành chính năm 2025")
	body = c.mustGet("/?c=SIPAS2024")
	mustContain(t, "the older campaign", body, `<option value="SIPAS2024" selected>`, "Khảo sát sự hài lòng năm 2024", "Đã hết hạn", "0 / 0")
}

func TestInjection(t *testing.T) {
	fx := newFixture(t)
	c := newClient(t, fx.serve(t, nil))
	c.signIn(operatorName, operatorPassword)
	for _, tc := range []struct {
		path    string
		escaped []string
	}{
		{"/units/XPT", []string{"&lt;script&gt;alert(1)&lt;/script&gt;"}},
		{"/review", []string{"Re: Phiếu khảo sát &lt;img src=x onerror=alert(1)&gt;"}},
		{"/failures", []string{"&lt;script&gt;alert(&#34;diag&#34;)&lt;/script&gt;"}},
		{fmt.Sprintf("/failures/%d", fx.Failed), []string{"User unknown &lt;script&gt;alert(&#34;diag&#34;)&lt;/script&gt;"}},
	} {
		body := c.mustGet(tc.path)
		mustContain(t, tc.path, body, tc.escaped...)
		mustNotContain(t, tc.path, body, "<script", "<img", "onerror=alert(1)>")
	}
}

func TestSecurityHeaders(t *testing.T) {
	fx := newFixture(t)
	c := newClient(t, fx.serve(t, nil))
	c.signIn(operatorName, operatorPassword)
	want := map[string]string{
		"Content-Security-Policy": "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
		"X-Content-Type-Options":  "nosniff",
		"Referrer-Policy":         "no-referrer",
		"X-Frame-Options":         "DENY",
	}
	for _, path := range []string{"/", "/login", "/units", "/review", "/nowhere", "/healthz", "/metrics", "/static/phieu.css"} {
		resp := c.get(path)
		for k, v := range want {
			if got := resp.Header.Get(k); got != v {
				t.Errorf("%s: %s = %q, want %q", path, k, got, v)
			}
		}
		if cc := resp.Header.Get("Cache-Control"); path != "/static/phieu.css" && cc != "no-store" {
			t.Errorf("%s: Cache-Control %q", path, cc)
		}
	}
	if resp := c.get("/static/"); resp.Status != http.StatusNotFound {
		t.Errorf("the static directory is listed: %d", resp.Status)
	}
	css := c.get("/static/phieu.css")
	if css.Status != http.StatusOK || !strings.HasPrefix(css.Header.Get("Content-Type"), "text/css") {
		t.Errorf("stylesheet: %d %s", css.Status, css.Header.Get("Content-Type"))
	}
	// The session cookie cannot be read by script nor sent by another site.
	fresh := newClient(t, fx.serve(t, nil))
	resp := fresh.login(url.Values{"name": {operatorName}, "password": {operatorPassword}})
	var cookie string
	for _, sc := range resp.Header.Values("Set-Cookie") {
		if strings.HasPrefix(sc, "phieu_session=") {
			cookie = sc
		}
	}
	if !strings.Contains(cookie, "HttpOnly") || !strings.Contains(cookie, "SameSite=Strict") || !strings.Contains(cookie, "Max-Age=43200") {
		t.Errorf("session cookie: %q", cookie)
	}
	// No page loads anything from elsewhere.
	for _, path := range []string{"/", "/units", "/failures", "/review", "/outbox"} {
		mustNotContain(t, path, c.mustGet(path), "http://", "https://", "style=\"", "<script")
	}
}

func TestHealthz(t *testing.T) {
	fx := newFixture(t)
	ts := fx.serve(t, nil)
	daemon := fx.serve(t, func(cfg *web.Config) {
		cfg.Health = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, `{"status":"ok","jobs":{}}`) })
	})
	c, d := newClient(t, ts), newClient(t, daemon)
	if resp := c.get("/healthz"); resp.Status != http.StatusOK || resp.Body != "ok\n" {
		t.Errorf("healthz: %d %q", resp.Status, resp.Body)
	}
	if resp := d.get("/healthz"); resp.Status != http.StatusOK || !strings.Contains(resp.Body, `"jobs"`) {
		t.Errorf("healthz with the daemon's handler: %d %q", resp.Status, resp.Body)
	}
	fx.DB.Close()
	for _, cl := range []*client{c, d} {
		if resp := cl.get("/healthz"); resp.Status != http.StatusServiceUnavailable {
			t.Errorf("healthz with the database closed: %d %q", resp.Status, resp.Body)
		}
	}
}

func TestMetrics(t *testing.T) {
	fx := newFixture(t)
	metrics := web.NewMetrics(fx.DB)
	c := newClient(t, fx.serve(t, func(cfg *web.Config) { cfg.Metrics = metrics }))
	started := time.Date(2025, 7, 4, 3, 0, 0, 0, time.UTC)
	metrics.ObserveJob("send", started, 1500*time.Millisecond, nil)
	metrics.ObserveJob("send", started.Add(time.Minute), 200*time.Millisecond, fmt.Errorf("smtp down"))
	metrics.ObserveJob("poll", started, 20*time.Millisecond, nil)

	resp := c.get("/metrics")
	if resp.Status != http.StatusOK {
		t.Fatalf("/metrics: %d", resp.Status)
	}
	mustContain(t, "/metrics", resp.Body,
		"phieu_db_up 1",
		`phieu_outbox_messages{state="sent"} 6`, `phieu_outbox_messages{state="failed"} 1`, `phieu_outbox_messages{state="deferred"} 1`,
		`phieu_outbox_messages{state="queued"} 0`,
		`phieu_smtp_attempts{result="sent"} 6`, `phieu_smtp_attempts{result="failed"} 1`, `phieu_smtp_attempts{result="deferred"} 1`,
		`phieu_delivery_failures{class="user_unknown"} 1`, `phieu_delivery_failures{class="mailbox_full"} 1`,
		`phieu_delivery_failures{class="sender_rejected"} 0`,
		`phieu_responses{status="counted"} 3`, `phieu_responses{status="needs_review"} 1`, `phieu_responses{status="late"} 1`,
		`phieu_members{status="answered"} 3`, `phieu_members{status="answered_needs_review"} 1`, `phieu_members{status="address_failed"} 1`,
		`phieu_members{status="not_invited"} 1`, `phieu_members{status="invited"} 2`,
		`phieu_job_duration_seconds_count{job="send"} 2`, `phieu_job_duration_seconds_sum{job="send"} 1.7`,
		`phieu_job_duration_seconds_bucket{job="send",le="1"} 1`,
		`phieu_job_runs_total{job="send",result="ok"} 1`, `phieu_job_runs_total{job="send",result="error"} 1`,
		`phieu_job_last_success_timestamp_seconds{job="send"} 1.7515980015e+09`,
		`phieu_job_last_success_timestamp_seconds{job="poll"} 1.75159800002e+09`,
	)
	// A scrape while the database is gone says so and does not fail.
	fx.DB.Close()
	resp = c.get("/metrics")
	if resp.Status != http.StatusOK {
		t.Fatalf("/metrics with the database closed: %d", resp.Status)
	}
	mustContain(t, "/metrics without a database", resp.Body, "phieu_db_up 0", `phieu_job_runs_total{job="send",result="ok"} 1`)
	mustNotContain(t, "/metrics without a database", resp.Body, "phieu_outbox_messages{")
	var nilMetrics *web.Metrics
	nilMetrics.ObserveJob("send", started, time.Second, nil) // the daemon without metrics
}

func TestServer_Listen(t *testing.T) {
	fx := newFixture(t)
	for _, addr := range []string{"0.0.0.0:8080", ":8080", "192.0.2.10:8080", "[::]:8080", "phieu.example.invalid:80", "8080"} {
		cfg := fx.config(t)
		cfg.Addr = addr
		if _, err := web.NewServer(cfg); err == nil {
			t.Errorf("NewServer accepted %q", addr)
		}
	}
	cfg := fx.config(t)
	cfg.Addr, cfg.AllowRemote = "0.0.0.0:0", true
	if _, err := web.NewServer(cfg); err != nil {
		t.Errorf("AllowRemote: %v", err)
	}
	for _, edit := range []func(*web.Config){
		func(c *web.Config) { c.SessionKey = []byte("short") },
		func(c *web.Config) {
			c.Users = append(c.Users, web.User{Name: "x", PasswordHash: "plain", Role: web.RoleOperator})
		},
		func(c *web.Config) {
			c.Users = append(c.Users, web.User{Name: "x", PasswordHash: mustHash(t, "x"), Role: "admin"})
		},
		func(c *web.Config) { c.Users = append(c.Users, c.Users[0]) },
		func(c *web.Config) { c.Tokens = map[string]web.Role{"short": web.RoleOperator} },
	} {
		cfg := fx.config(t)
		edit(&cfg)
		if _, err := web.NewServer(cfg); err == nil {
			t.Errorf("NewServer accepted %+v", cfg)
		}
	}

	srv, err := web.NewServer(fx.config(t))
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Open(); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(srv.URL(), "http://127.0.0.1:") {
		t.Errorf("URL %q", srv.URL())
	}
	resp, err := http.Get(srv.URL() + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("healthz over the listener: %d", resp.StatusCode)
	}
	served := srv.URL()
	if err := srv.Close(); err != nil {
		t.Error(err)
	}
	if err := srv.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if resp, err := http.Get(served + "/healthz"); err == nil {
		resp.Body.Close()
		t.Error("still serving after Close")
	}
}

// TestOverview_Province charts a generated province: its People's
// Committee and Council sit above the departments and communes, and the
// chart shows those, not the two roots.
func TestOverview_Province(t *testing.T) {
	ctx := context.Background()
	fx := &fixture{Path: filepath.Join(t.TempDir(), "phieu.db"), Now: t0, Real: storetest.NewClock(t0)}
	fx.DB = sqlite.NewDB(fx.Path)
	fx.DB.LinkKey = testLinkKey
	if err := fx.DB.Open(); err != nil {
		t.Fatal(err)
	}
	defer fx.DB.Close()
	p := synth.Generate(3, 30, 200)
	if _, err := sqlite.NewUnitService(fx.DB).ImportUnits(ctx, p.StoreUnits(), store.ImportOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := sqlite.NewRespondentService(fx.DB).ImportRespondents(ctx, p.Respondents, store.ImportOptions{}); err != nil {
		t.Fatal(err)
	}
	campaigns := sqlite.NewCampaignService(fx.DB)
	c := &store.Campaign{Code: "PAR2026", Title: "Khảo sát Chỉ số cải cách hành chính năm 2026", SenderName: "Sở Nội vụ",
		SenderAddress: "khaosat@" + synth.Domain, ReplyTo: "khaosat@" + synth.Domain,
		OpensAt: t0, Deadline: t0.AddDate(0, 0, 21), Groups: p.Groups(),
		Questionnaire: store.Questionnaire{Questions: []store.Question{{Code: "C1", Text: "Hài lòng?", Type: store.AnswerScale, Min: 1, Max: 5}}}}
	if err := campaigns.CreateCampaign(ctx, c); err != nil {
		t.Fatal(err)
	}
	if _, err := campaigns.AddMembers(ctx, c.Code, store.MemberSelector{}); err != nil {
		t.Fatal(err)
	}
	cl := newClient(t, fx.serve(t, nil))
	cl.signIn(operatorName, operatorPassword)
	body := cl.mustGet("/")
	chart := body[strings.Index(body, "Tỷ lệ trả lời theo đơn vị"):]
	chart = chart[:strings.Index(chart, "</svg>")]
	mustContain(t, "province chart", chart, "Sở Tư pháp", "Sở Tài chính")
	mustNotContain(t, "province chart", chart, "Ủy ban nhân dân tỉnh Bình Sơn", "Hội đồng nhân dân tỉnh Bình Sơn")
	mustContain(t, "province overview", body, "0 / 200 người đã trả lời", "Còn 21 ngày 0 giờ")
}
