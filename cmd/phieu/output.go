package main

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
)

// formatFlag is --format table|csv|json.
type formatFlag string

func (f *formatFlag) String() string { return string(*f) }

func (f *formatFlag) Set(v string) error {
	switch v {
	case "table", "csv", "json":
		*f = formatFlag(v)
		return nil
	}
	return fmt.Errorf("%q is not table, csv or json", v)
}

// table is a listing printed as an aligned table, CSV (UTF-8 with a BOM so
// Excel shows Vietnamese correctly) or JSON (one object per row, keyed by
// the JSON names).
type table struct {
	header   []string // shown in table and CSV
	jsonKeys []string // keys of JSON objects, same order as header
	rows     [][]string
}

func (t *table) add(cells ...string) { t.rows = append(t.rows, cells) }

func (t *table) write(w io.Writer, format formatFlag) error {
	switch format {
	case "csv":
		if _, err := io.WriteString(w, "\ufeff"); err != nil {
			return err
		}
		cw := csv.NewWriter(w)
		_ = cw.Write(t.header)
		_ = cw.WriteAll(t.rows)
		return cw.Error()
	case "json":
		enc := json.NewEncoder(w)
		enc.SetEscapeHTML(false)
		for _, r := range t.rows {
			obj := make(orderedObject, len(r))
			for i, cell := range r {
				key := strings.ToLower(strings.ReplaceAll(t.header[i], " ", "_"))
				if i < len(t.jsonKeys) {
					key = t.jsonKeys[i]
				}
				obj[i] = [2]string{key, cell}
			}
			if err := enc.Encode(obj); err != nil {
				return err
			}
		}
		return nil
	default:
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, strings.Join(t.header, "\t"))
		for _, r := range t.rows {
			fmt.Fprintln(tw, strings.Join(r, "\t"))
		}
		return tw.Flush()
	}
}

// orderedObject marshals as a JSON object keeping key order.
type orderedObject [][2]string

func (o orderedObject) MarshalJSON() ([]byte, error) {
	var b strings.Builder
	b.WriteByte('{')
	for i, kv := range o {
		if i > 0 {
			b.WriteByte(',')
		}
		k, _ := json.Marshal(kv[0])
		v, _ := json.Marshal(kv[1])
		b.Write(k)
		b.WriteByte(':')
		b.Write(v)
	}
	b.WriteByte('}')
	return []byte(b.String()), nil
}

// cellText writes a typed cell (of the rows exports and the failure ledger
// build) as listings and CSV show it: a time as dd/mm/yyyy hh:mm in its own
// zone, nil as nothing.
func cellText(v any) string {
	switch v := v.(type) {
	case nil:
		return ""
	case string:
		return v
	case time.Time:
		return v.Format("02/01/2006 15:04")
	case int:
		return strconv.Itoa(v)
	case int64:
		return strconv.FormatInt(v, 10)
	case bool:
		return strconv.FormatBool(v)
	}
	return fmt.Sprint(v)
}

// cellTexts is cellText of every cell of a row.
func cellTexts(row []any) []string {
	out := make([]string, len(row))
	for i, v := range row {
		out[i] = cellText(v)
	}
	return out
}
