package web

import (
	"net/http"
	"time"

	"github.com/phieu/phieu/store"
	"github.com/phieu/phieu/store/sqlite"
)

// integrityKindCount is one kind's count on a line of the report.
type integrityKindCount struct {
	Kind store.IntegrityKind
	N    int
}

// integrityLine is one unit (or the total) of the integrity report.
type integrityLine struct {
	Code, Name string
	Depth      int
	Responses  int
	Flagged    int
	Kinds      []integrityKindCount // in store.IntegrityKinds order
}

// integrityFlag is one flag as the page lists it.
type integrityFlag struct {
	At         time.Time
	UnitCode   string
	ResponseID int64
	Kind       store.IntegrityKind
	Reason     string
}

type integrityData struct {
	Kinds []store.IntegrityKind
	Units []integrityLine // units with responses or flags, tree order
	Total integrityLine
	Flags []integrityFlag
}

func kindCounts(by map[store.IntegrityKind]int) []integrityKindCount {
	out := make([]integrityKindCount, len(store.IntegrityKinds))
	for i, k := range store.IntegrityKinds {
		out[i] = integrityKindCount{Kind: k, N: by[k]}
	}
	return out
}

// integrityPage is the campaign's integrity report: per unit, how many
// responses carry a sign that someone else answered, by kind, and every
// flag with its reason. Operators only: reasons name mailboxes.
func (s *Server) integrityPage(r *http.Request, v *view) (string, error) {
	v.Title, v.Nav = "Toàn vẹn", "integrity"
	if v.Campaign == nil {
		return "integrity", nil
	}
	rep, err := sqlite.NewInboundService(s.cfg.DB, nil).IntegrityReport(r.Context(), v.Campaign.Code)
	if err != nil {
		return "", err
	}
	d := &integrityData{Kinds: store.IntegrityKinds,
		Total: integrityLine{Responses: rep.Responses, Flagged: rep.Flagged, Kinds: kindCounts(rep.ByKind)}}
	for _, u := range rep.Units {
		if u.Responses == 0 && u.Flagged == 0 {
			continue
		}
		d.Units = append(d.Units, integrityLine{Code: u.Code, Name: u.Name, Depth: u.Depth, Responses: u.Responses,
			Flagged: u.Flagged, Kinds: kindCounts(u.ByKind)})
	}
	for _, f := range rep.Flags {
		d.Flags = append(d.Flags, integrityFlag{At: f.At, UnitCode: f.UnitCode, ResponseID: f.ResponseID, Kind: f.Kind, Reason: f.Reason})
	}
	v.Data = d
	return "integrity", nil
}
