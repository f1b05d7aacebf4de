package web

import (
	"net/http"
	"net/url"
	"strconv"

	"github.com/phieu/phieu/store"
)

// view is what every page template gets: the frame (who is signed in, the
// campaigns, the flash message, the CSRF token) and the page's own Data.
type view struct {
	Title     string
	Nav       string // the navigation entry to highlight
	User      *session
	ReadOnly  bool
	CanAct    bool // an operator on a server that allows actions
	Campaigns []*store.Campaign
	Campaign  *store.Campaign // nil when there is no campaign yet
	Path      string          // this page, for the campaign selector
	Flash     *flash
	CSRF      string
	Data      any
}

// CampaignCode is the selected campaign's code, "" when there is none.
func (v *view) CampaignCode() string {
	if v.Campaign == nil {
		return ""
	}
	return v.Campaign.Code
}

// pageFunc fills v (Title, Nav, Data) for one page and returns the
// template to render, or an error.
type pageFunc func(r *http.Request, v *view) (string, error)

// page serves a GET page to anyone signed in with at least role: an
// operator sees every page, a liaison only those open to liaisons. Without
// a session the browser is sent to sign in and brought back.
func (s *Server) page(role Role, fn pageFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		se := s.currentSession(r)
		if se == nil {
			http.Redirect(w, r, "/login?next="+url.QueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
			return
		}
		if role == RoleOperator && se.Role != RoleOperator {
			s.renderError(w, r, se, http.StatusForbidden, "Trang này chỉ dành cho người điều hành.")
			return
		}
		v := &view{User: se, ReadOnly: s.cfg.ReadOnly, CanAct: se.CanAct() && !s.cfg.ReadOnly, CSRF: se.CSRF, Path: r.URL.Path}
		if err := s.selectCampaign(r, v, r.URL.Query().Get("c")); err != nil {
			s.fail(w, r, se, err)
			return
		}
		v.Flash = s.takeFlash(w, r)
		name, err := fn(r, v)
		if err != nil {
			s.fail(w, r, se, err)
			return
		}
		s.render(w, r, http.StatusOK, name, v)
	})
}

// selectCampaign loads the campaigns and picks code, or the newest
// (FindCampaigns lists the newest deadline first) when code is "".
func (s *Server) selectCampaign(r *http.Request, v *view, code string) error {
	cs, err := s.campaigns.FindCampaigns(r.Context())
	if err != nil {
		return err
	}
	v.Campaigns = cs
	for _, c := range cs {
		if c.Code == code || code == "" {
			v.Campaign = c
			return nil
		}
	}
	if code != "" {
		return store.Errorf(store.ENOTFOUND, "campaign %s not found", code)
	}
	return nil
}

// actionFunc does what an operator asked and returns where to go next,
// with the message to show there.
type actionFunc func(r *http.Request, se *session) (redirect string, f flash, err error)

// action serves a POST that changes something: only for an operator, on
// a server that allows actions, with the session's CSRF token. Then
// POST-redirect-GET: the outcome is shown once, on the page redirected to.
func (s *Server) action(fn actionFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
		se := s.currentSession(r)
		if se == nil {
			s.renderError(w, r, nil, http.StatusForbidden, "Bạn cần đăng nhập để thực hiện thao tác này.")
			return
		}
		if s.cfg.ReadOnly {
			s.renderError(w, r, se, http.StatusForbidden, "Bảng điều khiển này chỉ để xem: không thể thực hiện thao tác.")
			return
		}
		if !se.CanAct() {
			s.renderError(w, r, se, http.StatusForbidden, "Chỉ người điều hành mới được thực hiện thao tác này.")
			return
		}
		if err := r.ParseForm(); err != nil {
			s.renderError(w, r, se, http.StatusBadRequest, "Yêu cầu không hợp lệ.")
			return
		}
		if !checkCSRF(r, se.CSRF) {
			s.renderError(w, r, se, http.StatusForbidden, "Mã bảo vệ biểu mẫu (CSRF) thiếu hoặc sai. Vui lòng tải lại trang rồi thử lại.")
			return
		}
		to, f, err := fn(r, se)
		if err != nil {
			switch store.ErrorCode(err) {
			case store.EINVALID, store.ECONFLICT, store.ENOTFOUND:
				f = flash{Error: true, Message: "Không thực hiện được: " + store.ErrorMessage(err)}
			default:
				s.logger.Error("dashboard action", "path", r.URL.Path, "actor", se.Actor(), "err", err)
				f = flash{Error: true, Message: "Không thực hiện được do lỗi hệ thống; chi tiết có trong nhật ký."}
			}
		} else {
			s.logger.Info("dashboard action", "path", r.URL.Path, "actor", se.Actor())
		}
		s.setFlash(w, r, f)
		http.Redirect(w, r, localPath(to), http.StatusSeeOther)
	})
}

// fail shows err as a page with the status its code calls for.
func (s *Server) fail(w http.ResponseWriter, r *http.Request, se *session, err error) {
	switch store.ErrorCode(err) {
	case store.ENOTFOUND:
		s.renderError(w, r, se, http.StatusNotFound, "Không tìm thấy: "+store.ErrorMessage(err))
	case store.EINVALID:
		s.renderError(w, r, se, http.StatusBadRequest, "Yêu cầu không hợp lệ: "+store.ErrorMessage(err))
	default:
		s.logger.Error("dashboard page", "path", r.URL.Path, "err", err)
		s.renderError(w, r, se, http.StatusInternalServerError, "Lỗi hệ thống; chi tiết có trong nhật ký của phieu.")
	}
}

// pathID reads the {id} path segment.
func pathID(r *http.Request) (int64, error) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id <= 0 {
		return 0, store.Errorf(store.ENOTFOUND, "%q is not a number", r.PathValue("id"))
	}
	return id, nil
}

// withCampaign is path?c=code.
func withCampaign(path, code string) string {
	if code == "" {
		return path
	}
	return path + "?c=" + url.QueryEscape(code)
}
