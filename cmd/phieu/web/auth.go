package web

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"golang.org/x/crypto/bcrypt"

	"github.com/phieu/phieu/store"
)

// Cookie names. All are HttpOnly and SameSite=Strict: no other site can
// make a browser send them, and no script could read them.
const (
	sessionCookie = "phieu_session"
	loginCookie   = "phieu_login" // the sign-in form's CSRF token, before there is a session
	flashCookie   = "phieu_flash" // the outcome of an action, shown once after the redirect
)

// session is who is signed in: the cookie holds it signed, so the server
// keeps no state and a restart signs no one out.
type session struct {
	Name    string `json:"n"`
	Role    Role   `json:"r"`
	Expires int64  `json:"e"` // Unix seconds, real time
	CSRF    string `json:"c"` // every form's hidden csrf field must equal it
	// Token is a prefix of the digest of the access token signed in with,
	// "" for a password: a token removed from the file signs its sessions
	// out.
	Token string `json:"t,omitempty"`
}

// Actor is how audit entries name the person.
func (se *session) Actor() string { return "web:" + se.Name }

// CanAct reports whether the role may act on the campaign.
func (se *session) CanAct() bool { return se.Role == RoleOperator }

// sign returns value.MAC under the session key, for cookie purpose.
func (s *Server) sign(purpose string, payload []byte) string {
	mac := hmac.New(sha256.New, s.cfg.SessionKey)
	mac.Write([]byte("phieu " + purpose + " v1\x00"))
	mac.Write(payload)
	return base64.RawURLEncoding.EncodeToString(payload) + "." + base64.RawURLEncoding.EncodeToString(mac.Sum(nil))
}

// verify returns the payload of a value sign made for purpose, or false.
func (s *Server) verify(purpose, value string) ([]byte, bool) {
	body, sig, ok := strings.Cut(value, ".")
	if !ok {
		return nil, false
	}
	payload, err := base64.RawURLEncoding.DecodeString(body)
	if err != nil {
		return nil, false
	}
	got, err := base64.RawURLEncoding.DecodeString(sig)
	if err != nil {
		return nil, false
	}
	mac := hmac.New(sha256.New, s.cfg.SessionKey)
	mac.Write([]byte("phieu " + purpose + " v1\x00"))
	mac.Write(payload)
	return payload, hmac.Equal(got, mac.Sum(nil))
}

func randomToken() string {
	var b [32]byte
	rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// secureCookies: behind a remote TLS proxy the browser sees https, so the
// cookies may travel only over it.
func (s *Server) cookie(r *http.Request, name, value string, maxAge time.Duration) *http.Cookie {
	c := &http.Cookie{Name: name, Value: value, Path: "/", HttpOnly: true, SameSite: http.SameSiteStrictMode,
		Secure: r.TLS != nil || s.cfg.AllowRemote}
	if maxAge < 0 {
		c.MaxAge = -1
	} else {
		c.MaxAge = int(maxAge / time.Second)
	}
	return c
}

// currentSession returns the request's valid session, or nil: unsigned,
// expired, or for an account or token no longer configured with that role.
func (s *Server) currentSession(r *http.Request) *session {
	c, err := r.Cookie(sessionCookie)
	if err != nil {
		return nil
	}
	payload, ok := s.verify("session", c.Value)
	if !ok {
		return nil
	}
	var se session
	if err := json.Unmarshal(payload, &se); err != nil || se.CSRF == "" {
		return nil
	}
	if !s.cfg.RealNow().Before(time.Unix(se.Expires, 0)) {
		return nil
	}
	if se.Token != "" {
		for _, t := range s.tokens {
			if tokenID(t.digest) == se.Token && t.role == se.Role {
				return &se
			}
		}
		return nil
	}
	if u, ok := s.users[se.Name]; !ok || u.Role != se.Role {
		return nil
	}
	return &se
}

func tokenID(digest [sha256.Size]byte) string { return hex.EncodeToString(digest[:6]) }

// checkCSRF compares the form's token with the session's in constant time.
func checkCSRF(r *http.Request, want string) bool {
	got := r.PostFormValue("csrf")
	return got != "" && subtle.ConstantTimeCompare([]byte(got), []byte(want)) == 1
}

// loginData is the sign-in page.
type loginData struct {
	Next     string
	Name     string
	Error    string
	HasUsers bool
	HasToken bool
}

func (s *Server) loginPage(w http.ResponseWriter, r *http.Request) {
	if s.currentSession(r) != nil {
		http.Redirect(w, r, localPath(r.URL.Query().Get("next")), http.StatusSeeOther)
		return
	}
	s.renderLogin(w, r, http.StatusOK, loginData{Next: localPath(r.URL.Query().Get("next"))})
}

// renderLogin shows the sign-in form with its CSRF token in a cookie and
// in the form. A token the browser already holds is kept, so two sign-in
// tabs do not spoil each other.
func (s *Server) renderLogin(w http.ResponseWriter, r *http.Request, status int, d loginData) {
	token := randomToken()
	if c, err := r.Cookie(loginCookie); err == nil && len(c.Value) == len(token) {
		token = c.Value
	}
	http.SetCookie(w, s.cookie(r, loginCookie, token, time.Hour))
	d.HasUsers, d.HasToken = len(s.users) > 0, len(s.tokens) > 0
	s.render(w, r, status, "login", &view{Title: "Đăng nhập", CSRF: token, Data: d})
}

// login checks a name and password, or a token. A client that keeps
// failing waits longer and longer (per address); every failure and every
// success is audited.
func (s *Server) login(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 16<<10)
	if err := r.ParseForm(); err != nil {
		s.renderError(w, r, nil, http.StatusBadRequest, "Yêu cầu không hợp lệ.")
		return
	}
	c, err := r.Cookie(loginCookie)
	if err != nil || !checkCSRF(r, c.Value) {
		s.renderError(w, r, nil, http.StatusForbidden, "Phiên đăng nhập đã hết hạn hoặc không hợp lệ. Vui lòng tải lại trang đăng nhập.")
		return
	}
	ip := clientIP(r)
	next := localPath(r.PostFormValue("next"))
	if wait := s.logins.wait(ip); wait > 0 {
		secs := int((wait + time.Second - 1) / time.Second)
		w.Header().Set("Retry-After", fmt.Sprint(secs))
		s.logger.Warn("sign-in refused: too many failures", "ip", ip, "wait", wait)
		s.renderLogin(w, r, http.StatusTooManyRequests, loginData{Next: next,
			Error: fmt.Sprintf("Đăng nhập sai nhiều lần. Vui lòng thử lại sau %d giây.", secs)})
		return
	}
	name := strings.TrimSpace(r.PostFormValue("name"))
	se, who := s.authenticate(name, r.PostFormValue("password"), r.PostFormValue("token"))
	if se == nil {
		s.logins.fail(ip)
		s.recordLogin(r, who, "failed", ip)
		s.renderLogin(w, r, http.StatusUnauthorized, loginData{Next: next, Name: name,
			Error: "Tên đăng nhập, mật khẩu hoặc mã truy cập không đúng."})
		return
	}
	s.logins.succeed(ip)
	s.recordLogin(r, who, "ok", ip)
	payload, _ := json.Marshal(se)
	http.SetCookie(w, s.cookie(r, sessionCookie, s.sign("session", payload), sessionLifetime))
	http.SetCookie(w, s.cookie(r, loginCookie, "", -1))
	http.Redirect(w, r, next, http.StatusSeeOther)
}

// authenticate returns the session for a token, or for a name and
// password; who is how the audit log names the attempt.
func (s *Server) authenticate(name, password, token string) (se *session, who string) {
	now := s.cfg.RealNow()
	if token != "" {
		digest := sha256.Sum256([]byte(strings.TrimSpace(token)))
		var found *tokenEntry
		for i := range s.tokens {
			// Every entry is compared, so the time taken says nothing of
			// which one matched.
			if subtle.ConstantTimeCompare(digest[:], s.tokens[i].digest[:]) == 1 {
				found = &s.tokens[i]
			}
		}
		if found == nil {
			return nil, "web:token"
		}
		id := tokenID(found.digest)
		return &session{Name: "token-" + id, Role: found.role, Expires: now.Add(sessionLifetime).Unix(), CSRF: randomToken(), Token: id},
			"web:token-" + id
	}
	who = "web:" + clean(name, 64)
	u, ok := s.users[name]
	hash := s.dummyHash
	if ok {
		hash = []byte(u.PasswordHash)
	}
	if err := bcrypt.CompareHashAndPassword(hash, []byte(password)); err != nil || !ok || password == "" {
		return nil, who
	}
	return &session{Name: u.Name, Role: u.Role, Expires: now.Add(sessionLifetime).Unix(), CSRF: randomToken()}, who
}

// clean keeps at most n runes of s without control characters: a name
// typed at the sign-in form goes into the audit log as it is otherwise.
func clean(s string, n int) string {
	s = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f || r == utf8.RuneError {
			return -1
		}
		return r
	}, s)
	if utf8.RuneCountInString(s) > n {
		s = string([]rune(s)[:n]) + "…"
	}
	return s
}

func (s *Server) recordLogin(r *http.Request, actor, result, ip string) {
	e := &store.AuditEntry{Actor: actor, Action: store.AuditLogin, Subject: "dashboard", Detail: "result=" + result + " ip=" + ip}
	if err := s.audit.RecordAudit(r.Context(), e); err != nil {
		s.logger.Error("audit sign-in", "actor", actor, "err", err)
	}
}

func (s *Server) logout(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 16<<10)
	se := s.currentSession(r)
	if se == nil {
		http.Redirect(w, r, "/login", http.StatusSeeOther)
		return
	}
	if !checkCSRF(r, se.CSRF) {
		s.renderError(w, r, se, http.StatusForbidden, "Mã bảo vệ biểu mẫu (CSRF) thiếu hoặc sai. Vui lòng tải lại trang.")
		return
	}
	http.SetCookie(w, s.cookie(r, sessionCookie, "", -1))
	http.Redirect(w, r, "/login", http.StatusSeeOther)
}

// localPath returns p if it is a path on this site, "/" otherwise: the
// sign-in form's "next" must not send anyone elsewhere.
func localPath(p string) string {
	if p == "" || p[0] != '/' || strings.HasPrefix(p, "//") || strings.ContainsAny(p, "\\\r\n") {
		return "/"
	}
	return p
}

// clientIP is the connection's address: a forwarded-for header is not
// believed, anyone could send one.
func clientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// loginThrottle slows down guessing: after freeFailures failures in a row
// from one address, each attempt must wait twice as long as the last, up
// to maxLoginWait. A success forgets the address.
type loginThrottle struct {
	now func() time.Time

	mu     sync.Mutex
	byAddr map[string]*loginFailures
}

type loginFailures struct {
	n    int
	last time.Time
}

const (
	freeFailures   = 3
	maxLoginWait   = 5 * time.Minute
	forgetFailures = time.Hour // a quiet hour starts an address afresh
	maxTracked     = 10000
)

func newLoginThrottle(now func() time.Time) *loginThrottle {
	return &loginThrottle{now: now, byAddr: map[string]*loginFailures{}}
}

// backoff is how long to wait after n failures.
func backoff(n int) time.Duration {
	if n < freeFailures {
		return 0
	}
	shift := min(n-freeFailures, 16)
	return min(time.Second<<shift, maxLoginWait)
}

// wait returns how long addr must still wait before trying again.
func (t *loginThrottle) wait(addr string) time.Duration {
	t.mu.Lock()
	defer t.mu.Unlock()
	f := t.byAddr[addr]
	if f == nil {
		return 0
	}
	return max(f.last.Add(backoff(f.n)).Sub(t.now()), 0)
}

func (t *loginThrottle) fail(addr string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	now := t.now()
	if len(t.byAddr) >= maxTracked {
		for a, f := range t.byAddr {
			if now.Sub(f.last) > forgetFailures {
				delete(t.byAddr, a)
			}
		}
	}
	f := t.byAddr[addr]
	if f == nil || now.Sub(f.last) > forgetFailures {
		if f == nil && len(t.byAddr) >= maxTracked {
			return // full of recent failures: those addresses stay slowed
		}
		f = &loginFailures{}
		t.byAddr[addr] = f
	}
	f.n++
	f.last = now
}

func (t *loginThrottle) succeed(addr string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.byAddr, addr)
}

// flash is the outcome of an action, shown once on the page it redirects to.
type flash struct {
	Error   bool   `json:"e,omitempty"`
	Message string `json:"m"`
}

func (s *Server) setFlash(w http.ResponseWriter, r *http.Request, f flash) {
	payload, _ := json.Marshal(f)
	http.SetCookie(w, s.cookie(r, flashCookie, s.sign("flash", payload), time.Minute))
}

// takeFlash returns the pending flash message, if any, and clears it.
func (s *Server) takeFlash(w http.ResponseWriter, r *http.Request) *flash {
	c, err := r.Cookie(flashCookie)
	if err != nil {
		return nil
	}
	http.SetCookie(w, s.cookie(r, flashCookie, "", -1))
	payload, ok := s.verify("flash", c.Value)
	if !ok {
		return nil
	}
	var f flash
	if json.Unmarshal(payload, &f) != nil || f.Message == "" {
		return nil
	}
	return &f
}
