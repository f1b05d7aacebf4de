package web_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"github.com/phieu/phieu/cmd/phieu/web"
)

// findChromium returns Debian's chromium, or skips the test (fails it when
// PHIEU_REQUIRE_BROWSER=1, as in CI).
func findChromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"/usr/bin/chromium", "chromium", "chromium-browser", "google-chrome"} {
		if path, err := exec.LookPath(name); err == nil {
			return path
		}
	}
	if os.Getenv("PHIEU_REQUIRE_BROWSER") == "1" {
		t.Fatal("chromium not found and PHIEU_REQUIRE_BROWSER=1: apt-get install -y chromium")
	}
	t.Skip("browser test skipped: chromium not found (apt-get install -y chromium; PHIEU_REQUIRE_BROWSER=1 makes this a failure)")
	return ""
}

// artifactDir is where screenshots go: $PHIEU_ARTIFACTS (CI keeps them),
// else the test's temporary directory.
func artifactDir(t *testing.T) string {
	t.Helper()
	if dir := os.Getenv("PHIEU_ARTIFACTS"); dir != "" {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		return dir
	}
	return t.TempDir()
}

// TestBrowser drives the dashboard in headless Chromium as an operator
// would: sign in, read the overview, drill into a unit, open a failure,
// accept a response; and checks that hostile names and subjects render as
// inert text in a real browser.
func TestBrowser(t *testing.T) {
	chromium := findChromium(t)
	fx := newFixture(t)
	cfg := fx.config(t)
	cfg.RealNow = nil // the browser's session lives in real time
	srv, err := web.NewServer(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Open(); err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	base := srv.URL()
	artifacts := artifactDir(t)

	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(),
		chromedp.ExecPath(chromium),
		chromedp.Headless,
		chromedp.NoSandbox, // tests run as root in CI
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("disable-extensions", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 900),
	)
	defer cancelAlloc()
	browser, cancelBrowser := chromedp.NewContext(allocCtx)
	defer cancelBrowser()
	if err := chromedp.Do(browser); err != nil { // starts the browser with no deadline
		t.Fatalf("start chromium: %v", err)
	}
	ctx, cancel := context.WithTimeout(browser, 45*time.Second)
	defer cancel()

	// Any alert, confirm or prompt would mean a script ran.
	var dialogs atomic.Int32
	events := chromedp.Events(ctx, page.JavascriptDialogOpening)
	go func() {
		for ev, err := range events {
			if err != nil {
				return
			}
			dialogs.Add(1)
			t.Errorf("a JavaScript dialog opened: %q", ev.Message)
			chromedp.Call(ctx, page.HandleJavaScriptDialog, page.HandleJavaScriptDialogParams{Accept: false})
		}
	}()

	step := func(what string, actions ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		if err := chromedp.Do(ctx, actions...); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	// open follows a click that navigates, and waits for the new page.
	open := func(what string, sel chromedp.CSS) {
		t.Helper()
		if _, err := chromedp.Run(ctx, chromedp.WaitEvent(page.LoadEventFired, nil, chromedp.Click(sel))); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	text := func(sel chromedp.CSS) string {
		t.Helper()
		s, err := chromedp.Run(ctx, chromedp.Text(sel))
		if err != nil {
			t.Fatalf("text of %s: %v", sel, err)
		}
		return s
	}
	seeAll := func(where, got string, wants ...string) {
		t.Helper()
		for _, w := range wants {
			if !strings.Contains(got, w) {
				t.Errorf("%s: %q not visible in:\n%s", where, w, got)
			}
		}
	}
	shot := func(name string) {
		t.Helper()
		png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
		if err != nil {
			t.Fatalf("screenshot %s: %v", name, err)
		}
		path := filepath.Join(artifacts, "dashboard-"+name+".png")
		if err := os.WriteFile(path, png, 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("screenshot: %s", path)
		fmt.Println("screenshot:", path)
	}
	noMarkupFrom := func(where string) {
		t.Helper()
		for _, tag := range []chromedp.CSSAll{"script", "img", "iframe"} {
			nodes, err := chromedp.Run(ctx, chromedp.Nodes(tag, chromedp.AtLeast(0)))
			if err != nil {
				t.Fatal(err)
			}
			if len(nodes) > 0 {
				t.Errorf("%s: the page holds %d <%s> elements", where, len(nodes), tag)
			}
		}
	}

	// Sign in: the overview sends the browser to the form and back.
	step("sign-in form",
		chromedp.Navigate(base+"/"),
		chromedp.WaitVisible(chromedp.ID("name")),
		chromedp.SendKeys(chromedp.ID("name"), operatorName),
		chromedp.SendKeys(chromedp.ID("password"), operatorPassword),
	)
	shot("login")
	open("sign in", `form[action="/login"] button[type="submit"]`)
	step("overview", chromedp.WaitVisible(chromedp.CSS("svg.chart")))
	seeAll("overview", text("main"),
		"Khảo sát Chỉ số cải cách hành chính năm 2025", "Thời hạn trả lời", "Còn 7 ngày 13 giờ", "23 giờ 59 ngày 11/07/2025",
		"Tỷ lệ trả lời", "50%", "4 / 8 người đã trả lời", "Tỷ lệ trả lời theo đơn vị", "Sở Tư pháp", "75% (3/4)",
		"Phiếu trả lời theo ngày")
	seeAll("header", text("header"), operatorName, "người điều hành")
	shot("overview")
	step("phone width", chromedp.EmulateViewport(390, 844))
	shot("overview-phone")
	step("laptop width", chromedp.EmulateViewport(1280, 900))

	// Drill into a unit: the tree, then Văn phòng Sở Tư pháp and its member.
	open("units", `nav a[href^="/units"]`)
	seeAll("unit tree", text("main"), "Cây đơn vị", "Ủy ban nhân dân tỉnh Bình Sơn", "Văn phòng Sở Tư pháp")
	open("a unit", `a[href^="/units/STP-VP"]`)
	seeAll("unit page", text("main"), "Văn phòng Sở Tư pháp", "Hoàng Văn Dũng", "Chánh Văn phòng", "Địa chỉ thư lỗi")
	shot("unit")

	// Open a failure and read what the server said, as text.
	open("failures", `nav a[href^="/failures"]`)
	seeAll("failures", text("main"), "hộp thư không tồn tại", "Cách xử lý", "stp.binhson.gov.test")
	shot("failures")
	open("a failure", chromedp.CSS(fmt.Sprintf(`a[href="/failures/%d"]`, fx.Failed)))
	seeAll("failure page", text("main"), "Nội dung máy chủ trả về",
		`Recipient address rejected: User unknown <script>alert("diag")</script>`)
	noMarkupFrom("failure page")
	shot("failure")

	// Accept a response from the review queue; it leaves the queue.
	open("review", `nav a[href^="/review"]`)
	row := chromedp.CSS(fmt.Sprintf("#response-%d", fx.NeedsReview))
	seeAll("review queue", text(row), "Lê Thị Ánh", "thuky.stp@stp.binhson.gov.test", hostileSubject)
	noMarkupFrom("review queue")
	shot("review")
	open("accept", chromedp.CSS(fmt.Sprintf(`#response-%d form[action$="/accept"] button`, fx.NeedsReview)))
	seeAll("after accepting", text(".flash"), "Đã chấp nhận phiếu trả lời của Lê Thị Ánh")
	if nodes, err := chromedp.Run(ctx, chromedp.Nodes(chromedp.CSSAll(string(row)), chromedp.AtLeast(0))); err != nil || len(nodes) != 0 {
		t.Errorf("the accepted response is still in the queue (%d rows, %v)", len(nodes), err)
	}
	shot("review-accepted")

	open("outbox", `nav a[href^="/outbox"]`)
	seeAll("outbox", text("main"), "Thư theo tình trạng", "Tạm hoãn, sẽ gửi lại", "Đặng Quốc Khánh", "Tạm dừng gửi thư")
	shot("outbox")

	// The member named <script>...</script> is shown as that text.
	step("hostile member", chromedp.Navigate(base+"/units/XPT"), chromedp.WaitVisible(chromedp.CSS("table.members")))
	seeAll("unit with a hostile name", text("table.members"), hostileName, "Đỗ Thị Yến")
	noMarkupFrom("unit with a hostile name")
	shot("injection")

	if n := dialogs.Load(); n != 0 {
		t.Errorf("%d JavaScript dialogs opened", n)
	}
}
