package config

import (
	"math"
	"reflect"

	"github.com/goccy/go-yaml/ast"
)

// text returns a scalar's text. Numbers and booleans are accepted where a
// string is wanted (env: {WORKERS: 4}), as written.
func (d *decoder) text(path string, n ast.Node) (string, bool) {
	switch s := n.(type) {
	case *ast.StringNode:
		return s.Value, true
	case *ast.LiteralNode:
		return s.Value.Value, true
	case *ast.IntegerNode, *ast.FloatNode, *ast.BoolNode, *ast.InfinityNode, *ast.NanNode:
		return n.GetToken().Value, true
	}
	d.fail(path, n, "want a string, got %s", describe(n))
	return "", false
}

func (d *decoder) decodeInt(path string, n ast.Node, v reflect.Value) {
	in, ok := n.(*ast.IntegerNode)
	if !ok {
		d.fail(path, n, "want a whole number, got %s", describe(n))
		return
	}
	switch x := in.Value.(type) {
	case int64:
		if x >= math.MinInt32 && x <= math.MaxInt32 {
			v.SetInt(x)
			return
		}
	case uint64:
		if x <= math.MaxInt32 {
			v.SetInt(int64(x))
			return
		}
	}
	d.fail(path, n, "number %s is out of range", in.GetToken().Value)
}

func (d *decoder) decodeFloat(path string, n ast.Node, v reflect.Value) {
	switch f := n.(type) {
	case *ast.FloatNode:
		v.SetFloat(f.Value)
	case *ast.IntegerNode:
		switch x := f.Value.(type) {
		case int64:
			v.SetFloat(float64(x))
		case uint64:
			v.SetFloat(float64(x))
		}
	default:
		d.fail(path, n, "want a number, got %s", describe(n))
	}
}

func (d *decoder) decodeDuration(path string, n ast.Node, v reflect.Value) {
	if in, ok := n.(*ast.IntegerNode); ok {
		if in.GetToken().Value == "0" {
			v.SetInt(0)
			return
		}
		d.fail(path, n, "invalid duration %s: a number needs a unit (want e.g. %ss, %sms)",
			in.GetToken().Value, in.GetToken().Value, in.GetToken().Value)
		return
	}
	s, ok := d.text(path, n)
	if !ok {
		return
	}
	dur, err := parseDuration(s)
	if err != nil {
		d.fail(path, n, "%v", err)
		return
	}
	v.SetInt(int64(dur))
}

func (d *decoder) decodeSize(path string, n ast.Node, v reflect.Value) {
	s, ok := d.text(path, n)
	if !ok {
		return
	}
	size, err := parseSize(s)
	if err != nil {
		d.fail(path, n, "%v", err)
		return
	}
	v.SetInt(int64(size))
}

func (d *decoder) decodeArgv(path string, n ast.Node, v reflect.Value) {
	if _, ok := n.(*ast.SequenceNode); ok {
		var list []string
		d.decodeSlice(path, n, reflect.ValueOf(&list).Elem())
		v.Set(reflect.ValueOf(Argv(list)))
		return
	}
	s, ok := d.text(path, n)
	if !ok {
		return
	}
	argv, err := splitArgv(s)
	if err != nil {
		d.fail(path, n, "%v", err)
		return
	}
	v.Set(reflect.ValueOf(argv))
}

// describe names a node's kind for "want X, got Y" messages.
func describe(n ast.Node) string {
	switch n.(type) {
	case *ast.MappingNode, *ast.MappingValueNode:
		return "a mapping"
	case *ast.SequenceNode:
		return "a list"
	case *ast.StringNode, *ast.LiteralNode:
		return "the string " + truncate(n.GetToken().Value)
	case *ast.IntegerNode, *ast.FloatNode, *ast.InfinityNode, *ast.NanNode:
		return "the number " + n.GetToken().Value
	case *ast.BoolNode:
		return n.GetToken().Value
	case *ast.NullNode:
		return "nothing"
	}
	return n.Type().String()
}

func truncate(s string) string {
	if len(s) > 40 {
		s = s[:40] + "…"
	}
	return `"` + s + `"`
}
