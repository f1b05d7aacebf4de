// Package yamlfile reads phieu's YAML files (the daemon config, campaign
// files) strictly — unknown keys are errors — and reports every problem with
// the place it sits: FILE:LINE:COL: message.
package yamlfile

import (
	"bytes"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"unicode/utf8"

	"github.com/goccy/go-yaml"
	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/parser"

	"github.com/phieu/phieu/store"
)

// Errors lists every problem found in a file, in file order.
type Errors = store.Problems

// Doc is a parsed YAML document that knows where each value sits, so that
// problems found after decoding (a deadline before the opening date) can
// still be reported at their line.
type Doc struct {
	Path string
	data []byte
	file *ast.File
	errs Errors
}

// Parse parses data (read from path) and decodes it strictly into v. Syntax
// errors, unknown keys and wrong types are returned as *Errors. The returned
// Doc collects further problems with Errorf; call Err when done.
func Parse(path string, data []byte, v any) (*Doc, error) {
	// Windows Notepad starts UTF-8 files with a byte-order mark; it is not
	// part of the first key.
	data = bytes.TrimPrefix(data, []byte("\ufeff"))
	if p, ok := badByte(data); ok {
		p.File = path
		return nil, &Errors{List: []store.Problem{p}}
	}
	d := &Doc{Path: path, data: data}
	if strings.ContainsRune(string(data), '\t') {
		for i, line := range strings.Split(string(data), "\n") {
			indent := line[:len(line)-len(strings.TrimLeft(line, " \t"))]
			if strings.ContainsRune(indent, '\t') {
				d.errs.Add(store.Problem{File: path, Line: i + 1, Col: strings.IndexByte(indent, '\t') + 1, Message: "tab used for indentation; YAML indents with spaces"})
			}
		}
		if err := d.errs.Err(); err != nil {
			return nil, err
		}
	}
	file, err := parser.ParseBytes(data, 0)
	if err != nil {
		return nil, d.fromLibrary(err)
	}
	d.file = file
	if len(strings.TrimSpace(string(data))) == 0 {
		return nil, &Errors{List: []store.Problem{{File: path, Message: "file is empty"}}}
	}
	if p, ok := tooLarge(file); ok {
		p.File = path
		return nil, &Errors{List: []store.Problem{p}}
	}
	if err := decode(data, v); err != nil {
		return nil, d.fromLibrary(err)
	}
	return d, nil
}

// badByte finds the first byte that cannot be in a YAML file: one that is
// not UTF-8 (the library would silently turn it into U+FFFD, and a garbled
// title would go out in every message), a NUL or another control character.
func badByte(data []byte) (store.Problem, bool) {
	line, lineStart := 1, 0
	for i := 0; i < len(data); {
		r, size := utf8.DecodeRune(data[i:])
		var msg string
		switch {
		case r == utf8.RuneError && size <= 1:
			msg = "not valid UTF-8: save the file as UTF-8 (in Notepad: Save As, Encoding UTF-8)"
		case r == 0:
			msg = "contains a NUL byte: the file is damaged or not text"
		case r < 0x20 && r != '\t' && r != '\n' && r != '\r', r == 0x7f:
			msg = fmt.Sprintf("contains the control character U+%04X, which YAML does not allow", r)
		}
		if msg != "" {
			return store.Problem{Line: line, Col: 1 + utf8.RuneCount(data[lineStart:i]), Message: msg}, true
		}
		if r == '\n' {
			line, lineStart = line+1, i+1
		}
		i += size
	}
	return store.Problem{}, false
}

// maxExpanded bounds how many values a document may stand for once its
// aliases are expanded: a "billion laughs" file of ten lines, anchors of
// anchors, would otherwise have the decoder build billions of values and
// never return. phieu's files hold a few hundred.
const maxExpanded = 100_000

// tooLarge reports, at the alias that expands the most, a document that
// would exceed maxExpanded values.
func tooLarge(file *ast.File) (store.Problem, bool) {
	e := expansion{anchors: map[string]int{}}
	total := 0
	for _, doc := range file.Docs {
		total = e.add(total, e.size(doc))
	}
	if total <= maxExpanded {
		return store.Problem{}, false
	}
	p := store.Problem{Message: fmt.Sprintf("aliases (*name) expand this file to more than %d values: write the values out instead of repeating anchors", maxExpanded)}
	if e.worst != nil {
		if tok := e.worst.GetToken(); tok != nil && tok.Position != nil {
			p.Line, p.Col = tok.Position.Line, tok.Position.Column
		}
	}
	return p, true
}

type expansion struct {
	anchors   map[string]int // anchor name → values it stands for
	worst     *ast.AliasNode
	worstSize int
}

// add sums sizes, saturating just above the bound so that nothing overflows.
func (e *expansion) add(a, b int) int { return min(a+b, maxExpanded+1) }

func (e *expansion) size(n ast.Node) int {
	if n == nil || reflect.ValueOf(n).IsNil() {
		return 0
	}
	switch n := n.(type) {
	case *ast.DocumentNode:
		return e.size(n.Body)
	case *ast.MappingNode:
		return sizeAll(e, n.Values)
	case *ast.MappingValueNode:
		return e.add(e.size(n.Key), e.size(n.Value))
	case *ast.MappingKeyNode:
		return e.size(n.Value)
	case *ast.SequenceNode:
		return sizeAll(e, n.Values)
	case *ast.TagNode:
		return e.size(n.Value)
	case *ast.AnchorNode:
		size := e.size(n.Value)
		e.anchors[nodeText(n.Name)] = size
		return size
	case *ast.AliasNode:
		size, ok := e.anchors[nodeText(n.Value)]
		if !ok {
			size = 1
		}
		if size > e.worstSize {
			e.worst, e.worstSize = n, size
		}
		return size
	}
	return 1
}

// sizeAll is the size of a mapping or sequence: itself and its values.
func sizeAll[N ast.Node](e *expansion, values []N) int {
	total := 1
	for _, v := range values {
		total = e.add(total, e.size(v))
	}
	return total
}

func nodeText(n ast.Node) string {
	if n == nil || reflect.ValueOf(n).IsNil() {
		return ""
	}
	if tok := n.GetToken(); tok != nil {
		return tok.Value
	}
	return n.String()
}

// decode runs the YAML decoder, turning a panic inside it into an error:
// fuzzing found inputs (odd tags before a sequence) that crash the library,
// and a bad file must never bring the daemon down.
func decode(data []byte, v any) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("the YAML cannot be read (check tags like !x and indentation): %v", r)
		}
	}()
	return yaml.UnmarshalWithOptions(data, v, yaml.DisallowUnknownField())
}

// fromLibrary turns the YAML library's error into a positioned problem,
// rephrasing its Go-type vocabulary for the people who edit these files.
func (d *Doc) fromLibrary(err error) error {
	if errors.Is(err, yaml.ErrExceededMaxDepth) {
		return &Errors{List: []store.Problem{{File: d.Path, Message: "values are nested too deep ([[[... or {{{...): the file is damaged or not a phieu file"}}}
	}
	var ye yaml.Error
	if !errors.As(err, &ye) {
		return &Errors{List: []store.Problem{{File: d.Path, Message: err.Error()}}}
	}
	p := store.Problem{File: d.Path, Message: ye.GetMessage()}
	if tok := ye.GetToken(); tok != nil && tok.Position != nil {
		p.Line, p.Col = tok.Position.Line, tok.Position.Column
	}
	var te *yaml.TypeError
	if errors.As(err, &te) {
		p.Message = fmt.Sprintf("%s where %s was expected", kindName(te.SrcType), kindName(te.DstType))
		if key := d.keyOnLine(p.Line); key != "" {
			p.Message = key + ": " + p.Message
		}
	}
	var ne *yaml.UnexpectedNodeTypeError
	if errors.As(err, &ne) {
		p.Message = fmt.Sprintf("%s where %s was expected", nodeName(ne.Actual), nodeName(ne.Expected))
		if key := d.keyOnLine(p.Line); key != "" {
			p.Message = key + ": " + p.Message
		}
	}
	var ue *yaml.UnknownFieldError
	if errors.As(err, &ue) {
		p.Message = strings.Replace(ue.Message, "unknown field", "unknown key", 1) + " (check its spelling and indentation)"
		if strings.Contains(p.Message, "\ufeff") {
			// Two files pasted together: the second one's byte-order mark
			// is invisible in an editor.
			p.Message = strings.ReplaceAll(p.Message, "\ufeff", "") + ": it starts with an invisible byte-order mark (U+FEFF); delete the key and type it again"
		}
	}
	return &Errors{List: []store.Problem{p}}
}

func nodeName(t ast.NodeType) string {
	switch t {
	case ast.StringType, ast.LiteralType:
		return "text"
	case ast.IntegerType:
		return "a whole number"
	case ast.FloatType:
		return "a number"
	case ast.BoolType:
		return "true or false"
	case ast.SequenceType:
		return "a list"
	case ast.MappingType, ast.MappingValueType:
		return "a mapping of keys"
	case ast.NullType:
		return "nothing"
	}
	return t.String()
}

func kindName(t reflect.Type) string {
	if t == nil {
		return "a value"
	}
	switch t.Kind() {
	case reflect.String:
		return "text"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64, reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "a whole number"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Bool:
		return "true or false"
	case reflect.Slice, reflect.Array:
		return "a list"
	case reflect.Map, reflect.Struct:
		return "a mapping of keys"
	}
	return t.String()
}

// keyOnLine returns the mapping key written on a line ("  - port: 25" →
// "port"), or "".
func (d *Doc) keyOnLine(line int) string {
	lines := strings.Split(string(d.data), "\n")
	if line < 1 || line > len(lines) {
		return ""
	}
	text := strings.TrimLeft(strings.TrimSpace(lines[line-1]), "- ")
	key, _, ok := strings.Cut(text, ":")
	if !ok || strings.ContainsAny(key, " \"'{[") {
		return ""
	}
	return key
}

// Pos returns the line and column of the value at a dotted key path such as
// "sender.address" or "questionnaire.questions[2].code". If that exact path
// is absent (a missing key), the closest present ancestor's position is
// returned; 0, 0 if nothing matches.
func (d *Doc) Pos(keyPath string) (line, col int) {
	if d == nil || d.file == nil {
		return 0, 0
	}
	for p := keyPath; ; {
		if n := d.node(p); n != nil {
			tok := n.GetToken()
			if tok != nil && tok.Position != nil {
				return tok.Position.Line, tok.Position.Column
			}
		}
		i := strings.LastIndexAny(p, ".[")
		if i <= 0 {
			return 0, 0
		}
		p = p[:i]
	}
}

func (d *Doc) node(keyPath string) ast.Node {
	ypath, err := yaml.PathString("$." + keyPath)
	if err != nil {
		return nil
	}
	n, err := ypath.FilterFile(d.file)
	if err != nil {
		return nil
	}
	return n
}

// Errorf records a problem at the value of keyPath.
func (d *Doc) Errorf(keyPath, format string, args ...any) {
	line, col := d.Pos(keyPath)
	d.errs.Add(store.Problem{File: d.Path, Line: line, Col: col, Message: fmt.Sprintf(format, args...)})
}

// Err returns every problem recorded with Errorf, or nil.
func (d *Doc) Err() error { return d.errs.Err() }
