package poller

import (
	"context"
	"regexp"
	"strings"

	"github.com/phieu/phieu/store"
)

// Match is what an inbound message was tied to.
type Match struct {
	Method       store.MatchMethod
	Outbox       *store.OutboxMessage // nil when matched by address only
	CampaignCode string
	RespondentID int64
}

// refRE finds a reference: ten Crockford base32 characters.
var (
	subjectRefRE = regexp.MustCompile(`(?i)\bKS-([0-9A-HJKMNP-TV-Z]{10})\b`)
	plusRefRE    = regexp.MustCompile(`(?i)^[^@+]+\+([0-9A-HJKMNP-TV-Z]{10})@`)
	bareRefRE    = regexp.MustCompile(`(?i)^[0-9A-HJKMNP-TV-Z]{10}$`)
)

// Lookup is what matching reads from the store.
type Lookup interface {
	FindOutboxByRef(ctx context.Context, ref string) (*store.OutboxMessage, error)
	FindOutboxByMessageID(ctx context.Context, messageID string) (*store.OutboxMessage, error)
	FindMemberships(ctx context.Context, mailbox string) ([]*store.Membership, error)
}

// Matcher ties messages to what phieu sent, trying the strongest evidence
// first: a reference can only come from phieu, an address only says who.
type Matcher struct{ Lookup Lookup }

// Match returns the match, or a zero Match and the reason none was found.
func (m Matcher) Match(ctx context.Context, a *Analysis) (Match, string, error) {
	tryRef := func(method store.MatchMethod, ref string) (Match, bool, error) {
		ref = strings.ToUpper(strings.Trim(strings.TrimSpace(ref), "<>"))
		if !bareRefRE.MatchString(ref) {
			return Match{}, false, nil
		}
		o, err := m.Lookup.FindOutboxByRef(ctx, ref)
		if store.ErrorCode(err) == store.ENOTFOUND {
			return Match{}, false, nil
		} else if err != nil {
			return Match{}, false, err
		}
		return outboxMatch(method, o), true, nil
	}
	tryID := func(method store.MatchMethod, id string) (Match, bool, error) {
		id = strings.Trim(strings.TrimSpace(id), "<>")
		if id == "" {
			return Match{}, false, nil
		}
		o, err := m.Lookup.FindOutboxByMessageID(ctx, id)
		if store.ErrorCode(err) == store.ENOTFOUND {
			return Match{}, false, nil
		} else if err != nil {
			return Match{}, false, err
		}
		return outboxMatch(method, o), true, nil
	}
	r := a.Report
	steps := []func() (Match, bool, error){
		func() (Match, bool, error) { return tryRef(store.MatchEnvelopeID, r.EnvelopeID) },
		func() (Match, bool, error) {
			for _, to := range a.Recipients {
				if sm := plusRefRE.FindStringSubmatch(to); sm != nil {
					if mt, ok, err := tryRef(store.MatchPlusAddress, sm[1]); ok || err != nil {
						return mt, ok, err
					}
				}
			}
			return Match{}, false, nil
		},
		func() (Match, bool, error) { return tryRef(store.MatchOriginalRef, r.OriginalRef) },
		func() (Match, bool, error) {
			if !isReport(a.Kind) {
				return Match{}, false, nil // a person's message names what it answers in In-Reply-To
			}
			return tryID(store.MatchOriginalMessageID, r.OriginalMessageID)
		},
		func() (Match, bool, error) {
			for _, id := range a.InReplyTo {
				if mt, ok, err := tryID(store.MatchInReplyTo, id); ok || err != nil {
					return mt, ok, err
				}
			}
			return Match{}, false, nil
		},
		func() (Match, bool, error) {
			for _, s := range []string{a.Subject, r.OriginalSubject} {
				if sm := subjectRefRE.FindStringSubmatch(s); sm != nil {
					if mt, ok, err := tryRef(store.MatchSubjectCode, sm[1]); ok || err != nil {
						return mt, ok, err
					}
				}
			}
			return Match{}, false, nil
		},
		func() (Match, bool, error) {
			addrs := []string{a.From}
			if isReport(a.Kind) {
				addrs = nil
				for _, f := range r.Failures {
					addrs = append(addrs, f.Recipient)
				}
				addrs = append(addrs, r.OriginalTo...)
			}
			for _, addr := range addrs {
				if addr == "" {
					continue
				}
				ms, err := m.Lookup.FindMemberships(ctx, addr)
				if err != nil {
					return Match{}, false, err
				}
				if len(ms) > 0 {
					return Match{Method: store.MatchAddress, CampaignCode: ms[0].CampaignCode, RespondentID: ms[0].RespondentID}, true, nil
				}
			}
			return Match{}, false, nil
		},
	}
	for _, step := range steps {
		mt, ok, err := step()
		if err != nil {
			return Match{}, "", err
		}
		if ok {
			return mt, "", nil
		}
	}
	return Match{}, unmatchedReason(a), nil
}

func outboxMatch(method store.MatchMethod, o *store.OutboxMessage) Match {
	return Match{Method: method, Outbox: o, CampaignCode: o.CampaignCode, RespondentID: o.RespondentID}
}

// isReport reports the kinds a mail system writes about a message.
func isReport(k store.InboundKind) bool {
	switch k {
	case store.InboundBounce, store.InboundDelay, store.InboundDelivered, store.InboundComplaint:
		return true
	}
	return false
}

// unmatchedReason says, for the review list, what the message lacked.
func unmatchedReason(a *Analysis) string {
	var refs []string
	if sm := subjectRefRE.FindStringSubmatch(a.Subject); sm != nil {
		refs = append(refs, "mã "+sm[0]+" trong tiêu đề không khớp thư nào đã gửi")
	}
	if a.OriginalMessageID != "" {
		refs = append(refs, "Message-ID gốc <"+a.OriginalMessageID+"> không phải thư của phieu")
	}
	if len(refs) > 0 {
		return "không khớp: " + strings.Join(refs, "; ")
	}
	if isReport(a.Kind) {
		return "không khớp: thư báo lỗi không có mã tham chiếu, Message-ID gốc hay địa chỉ của thành viên nào"
	}
	return "không khớp: không có mã tham chiếu, không trả lời thư nào của phieu, người gửi không phải thành viên"
}

// looksLikePhieus reports a message that carries phieu's marks without
// matching: a subject code or a reply to one of phieu's Message-IDs.
func looksLikePhieus(a *Analysis, senderDomains map[string]bool) bool {
	if subjectRefRE.MatchString(a.Subject) {
		return true
	}
	for _, id := range a.InReplyTo {
		if at := strings.LastIndexByte(id, '@'); at >= 0 && senderDomains[strings.ToLower(id[at+1:])] {
			return true
		}
	}
	return false
}
