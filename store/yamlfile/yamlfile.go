// Package yamlfile reads phieu's YAML files (the daemon config, campaign
// files) strictly — unknown keys are errors — and reports every problem with
// the place it sits: FILE:LINE:COL: message.
package yamlfile

import (
	"errors"
	"fmt"
	"reflect"
	"strings"

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
	if err := decode(data, v); err != nil {
		return nil, d.fromLibrary(err)
	}
	return d, nil
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
