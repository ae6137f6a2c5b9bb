package config

import (
	"reflect"
	"slices"
	"strings"
	"time"

	"github.com/goccy/go-yaml/ast"
)

// decoder fills a Config from a YAML syntax tree by walking the tree and
// the Go types together. It exists (instead of yaml.Unmarshal) so that every
// problem is collected with its key path and position, unknown keys are
// caught with a suggestion, and secrets are resolved where they are named.
// One decoder serves one Parse call.
type decoder struct {
	probs   *problems
	anchors map[string][]*ast.AnchorNode // every anchor by name, in file order
	secrets secretResolver
	depth   int
}

// maxDepth bounds nesting; the schema is far shallower, so deeper input is
// an alias cycle or an attack.
const maxDepth = 32

// defaulter is implemented by config types whose zero value is not their
// default. The decoder calls setDefaults on every value it allocates, before
// filling it, so keys written in the file override defaults and keys left
// out keep them (an explicit 0 or "" stays 0 or "").
type defaulter interface{ setDefaults() }

var (
	durationType = reflect.TypeOf(time.Duration(0))
	sizeType     = reflect.TypeOf(ByteSize(0))
	argvType     = reflect.TypeOf(Argv(nil))
	secretType   = reflect.TypeOf(Secret{})
)

func posOf(n ast.Node) Pos {
	if m, ok := n.(*ast.MappingNode); ok && len(m.Values) > 0 {
		n = m.Values[0].Key
	}
	if n == nil || n.GetToken() == nil {
		return Pos{}
	}
	p := n.GetToken().Position
	return Pos{Line: p.Line, Column: p.Column}
}

// fail reports a problem with the value at path, located at its key when
// it has one, else at the node itself.
func (d *decoder) fail(path string, n ast.Node, format string, args ...any) {
	pos, ok := d.probs.pos[path]
	if !ok {
		pos = posOf(n)
	}
	d.probs.addAt(pos, path, format, args...)
}

// record remembers where path was written, for Validate's messages.
func (d *decoder) record(path string, pos Pos) {
	if _, ok := d.probs.pos[path]; !ok {
		d.probs.pos[path] = pos
	}
}

// collectAnchors indexes every anchor so aliases can be resolved even when
// the anchor sits under a key the decoder ignores (x-defaults).
func (d *decoder) collectAnchors(n ast.Node, depth int) {
	if n == nil || depth > maxDepth {
		return
	}
	switch n := n.(type) {
	case *ast.AnchorNode:
		if name, ok := n.Name.(*ast.StringNode); ok {
			d.anchors[name.Value] = append(d.anchors[name.Value], n)
		}
		d.collectAnchors(n.Value, depth+1)
	case *ast.TagNode:
		d.collectAnchors(n.Value, depth+1)
	case *ast.MappingNode:
		for _, v := range n.Values {
			d.collectAnchors(v, depth+1)
		}
	case *ast.MappingValueNode:
		d.collectAnchors(n.Value, depth+1)
	case *ast.SequenceNode:
		for _, v := range n.Values {
			d.collectAnchors(v, depth+1)
		}
	}
}

// resolve strips anchors and tags and follows aliases to the node they
// name (the last anchor of that name written before the alias).
func (d *decoder) resolve(path string, n ast.Node) (ast.Node, bool) {
	for i := 0; i < maxDepth; i++ {
		switch m := n.(type) {
		case *ast.AnchorNode:
			n = m.Value
		case *ast.TagNode:
			n = m.Value
		case *ast.AliasNode:
			name := m.Value.GetToken().Value
			var target *ast.AnchorNode
			for _, a := range d.anchors[name] {
				if a.GetToken().Position.Offset < m.GetToken().Position.Offset {
					target = a
				}
			}
			if target == nil {
				d.fail(path, n, "alias *%s refers to no earlier anchor &%s", name, name)
				return nil, false
			}
			n = target.Value
		default:
			return n, true
		}
	}
	d.fail(path, n, "aliases nest too deeply")
	return nil, false
}

// entry is one key of a mapping, after merge keys are expanded.
type entry struct {
	key   string
	pos   Pos
	value ast.Node
}

// entries lists a mapping's keys. Keys merged in with "<<" come first and
// are overridden by keys written in the mapping itself, as YAML specifies.
func (d *decoder) entries(path string, n ast.Node) ([]entry, bool) {
	var vals []*ast.MappingValueNode
	switch m := n.(type) {
	case *ast.MappingNode:
		vals = m.Values
	case *ast.MappingValueNode:
		vals = []*ast.MappingValueNode{m}
	default:
		d.fail(path, n, "want a mapping of keys, got %s", describe(n))
		return nil, false
	}
	var merged, own []entry
	for _, mv := range vals {
		if mv.Key.IsMergeKey() {
			d.depth++
			merged = append(merged, d.mergeEntries(path, mv.Value)...)
			d.depth--
			continue
		}
		key := mv.Key.GetToken().Value
		if s, ok := mv.Key.(*ast.StringNode); ok {
			key = s.Value
		}
		own = append(own, entry{key: key, pos: posOf(mv.Key), value: mv.Value})
	}
	if len(merged) == 0 {
		return own, true
	}
	seen := make(map[string]bool, len(own))
	for _, e := range own {
		seen[e.key] = true
	}
	out := make([]entry, 0, len(merged)+len(own))
	for i := len(merged) - 1; i >= 0; i-- { // the first merged mapping wins among merged ones
		if e := merged[i]; !seen[e.key] {
			seen[e.key] = true
			out = append(out, e)
		}
	}
	return append(out, own...), true
}

func (d *decoder) mergeEntries(path string, n ast.Node) []entry {
	if d.depth > maxDepth {
		d.fail(path, n, "merge keys nest too deeply")
		return nil
	}
	n, ok := d.resolve(path, n)
	if !ok {
		return nil
	}
	if seq, isSeq := n.(*ast.SequenceNode); isSeq {
		var out []entry
		for i := len(seq.Values) - 1; i >= 0; i-- { // earlier mappings in the list win
			out = append(out, d.mergeEntries(path, seq.Values[i])...)
		}
		return out
	}
	es, _ := d.entries(path, n)
	return es
}

// decode fills v (addressable) from node n found at path.
func (d *decoder) decode(path string, n ast.Node, v reflect.Value) {
	d.depth++
	defer func() { d.depth-- }()
	if d.depth > maxDepth {
		d.fail(path, n, "nesting too deep")
		return
	}
	n, ok := d.resolve(path, n)
	if !ok {
		return
	}
	if _, null := n.(*ast.NullNode); null {
		// An empty block (docker:) still means "present, with defaults";
		// any other empty value leaves the default alone.
		if v.Kind() == reflect.Pointer && v.Type().Elem().Kind() == reflect.Struct && v.IsNil() {
			v.Set(newValue(v.Type().Elem()).Addr())
		}
		return
	}
	switch t := v.Type(); {
	case t == durationType:
		d.decodeDuration(path, n, v)
	case t == sizeType:
		d.decodeSize(path, n, v)
	case t == argvType:
		d.decodeArgv(path, n, v)
	case t.Kind() == reflect.Pointer:
		elem := newValue(t.Elem())
		if !v.IsNil() {
			elem.Set(v.Elem())
		}
		d.decode(path, n, elem)
		v.Set(elem.Addr())
	case t.Kind() == reflect.Struct:
		d.decodeStruct(path, n, v)
	case t.Kind() == reflect.Slice:
		d.decodeSlice(path, n, v)
	case t.Kind() == reflect.Map:
		d.decodeMap(path, n, v)
	case t.Kind() == reflect.String:
		if s, ok := d.text(path, n); ok {
			v.SetString(s)
		}
	case t.Kind() == reflect.Bool:
		if b, ok := n.(*ast.BoolNode); ok {
			v.SetBool(b.Value)
		} else {
			d.fail(path, n, "want true or false, got %s", describe(n))
		}
	case t.Kind() == reflect.Int:
		d.decodeInt(path, n, v)
	case t.Kind() == reflect.Float64:
		d.decodeFloat(path, n, v)
	default:
		panic("config: no decoder for " + t.String()) // a schema bug, caught by tests
	}
}

// newValue allocates a T with its defaults applied.
func newValue(t reflect.Type) reflect.Value {
	v := reflect.New(t)
	if df, ok := v.Interface().(defaulter); ok {
		df.setDefaults()
	}
	return v.Elem()
}

// field is one struct field's place in the YAML schema.
type field struct {
	key    string // YAML key; for secrets the base name (token)
	index  int
	secret bool // also accepts key_env and key_file
}

func fieldsOf(t reflect.Type) []field {
	var out []field
	for i := 0; i < t.NumField(); i++ {
		tag, ok := t.Field(i).Tag.Lookup("yaml")
		if !ok {
			continue
		}
		name, opt, _ := strings.Cut(tag, ",")
		out = append(out, field{key: name, index: i, secret: opt == "secret"})
	}
	return out
}

// keysOf lists every key a struct accepts, for suggestions.
func keysOf(fs []field) []string {
	var keys []string
	for _, f := range fs {
		keys = append(keys, f.key)
		if f.secret {
			keys = append(keys, f.key+"_env", f.key+"_file")
		}
	}
	return keys
}

func (d *decoder) decodeStruct(path string, n ast.Node, v reflect.Value) {
	es, ok := d.entries(path, n)
	if !ok {
		return
	}
	fs := fieldsOf(v.Type())
	secrets := map[int][]entry{}
	for _, e := range es {
		if strings.HasPrefix(e.key, "x-") {
			continue // extension keys hold anchors for reuse
		}
		p := childPath(path, e.key)
		f, found := matchField(fs, e.key)
		if !found {
			msg := "unknown key"
			if s := suggest(e.key, keysOf(fs)); s != "" {
				msg += " (did you mean " + s + "?)"
				if !slices.ContainsFunc(es, func(o entry) bool { return o.key == s }) {
					// "services: required" would only repeat the typo.
					d.probs.quiet(childPath(path, s))
				}
			}
			d.probs.addAt(e.pos, p, "%s", msg)
			continue
		}
		d.record(p, e.pos)
		if f.secret {
			secrets[f.index] = append(secrets[f.index], e)
			continue
		}
		d.decode(p, e.value, v.Field(f.index))
	}
	for _, f := range fs {
		if es := secrets[f.index]; len(es) > 0 {
			d.decodeSecret(path, f.key, es, v.Field(f.index))
		}
	}
}

// matchField finds the field a key belongs to, including secret variants.
func matchField(fs []field, key string) (field, bool) {
	for _, f := range fs {
		if key == f.key || f.secret && (key == f.key+"_env" || key == f.key+"_file") {
			return f, true
		}
	}
	return field{}, false
}

func (d *decoder) decodeSlice(path string, n ast.Node, v reflect.Value) {
	seq, ok := n.(*ast.SequenceNode)
	if !ok {
		d.fail(path, n, "want a list, got %s", describe(n))
		return
	}
	out := reflect.MakeSlice(v.Type(), 0, len(seq.Values))
	for i, item := range seq.Values {
		p := indexPath(path, i)
		d.record(p, posOf(item))
		elem := newValue(v.Type().Elem())
		d.decode(p, item, elem)
		out = reflect.Append(out, elem)
	}
	v.Set(out)
}

func (d *decoder) decodeMap(path string, n ast.Node, v reflect.Value) {
	es, ok := d.entries(path, n)
	if !ok {
		return
	}
	out := reflect.MakeMapWithSize(v.Type(), len(es))
	for _, e := range es {
		p := childPath(path, e.key)
		d.record(p, e.pos)
		elem := newValue(v.Type().Elem())
		d.decode(p, e.value, elem)
		out.SetMapIndex(reflect.ValueOf(e.key).Convert(v.Type().Key()), elem)
	}
	v.Set(out)
}
