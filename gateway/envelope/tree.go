package envelope

import (
	"slices"
	"sync"
)

// A one-pass JSON parser: it accepts exactly what encoding/json accepts,
// nested at most MaxDepth deep, refusing the rest with the reasons and
// offsets of the former validator (the package used to validate, then parse
// again with fastjson), and in the same pass records every value as a node
// of a flat tree. Nodes point into the body: strings stay raw and are
// unescaped only when read (lookup.go), and the node slice is reused from
// one parse to the next, so a pooled parser parses without allocating.

// kind is the JSON type of a node; kindNone is a missing value.
type kind uint8

const (
	kindNone kind = iota
	kindObject
	kindArray
	kindString
	kindNumber
	kindTrue
	kindFalse
	kindNull
)

// node flags.
const (
	// flagEsc: a string node's text holds a backslash escape.
	flagEsc uint8 = 1 << iota
	// flagKeyEsc: the member's key holds a backslash escape.
	flagKeyEsc
	// flagObjKeyEsc: an object node has at least one flagKeyEsc member.
	flagObjKeyEsc
	// flagKeysUnescaped: an object has been searched by unescaped keys
	// (see parser.member).
	flagKeysUnescaped
)

// node is one JSON value of the body.
type node struct {
	kind  kind
	flags uint8
	// start and end delimit the value's text: a string's without its
	// quotes, a number's as written; unused for containers and literals.
	// Offsets and indexes are int32 (a node is 24 bytes, not 48): bodies
	// are far below 2 GiB (config caps server.max_body_bytes at 1 GiB).
	start, end int32
	// keyStart and keyEnd delimit the raw key (without quotes) of an
	// object member; unused for other values.
	keyStart, keyEnd int32
	// next is the index of the node after this value and all it contains:
	// the next member or item of its container, if any.
	next int32
}

// parser holds a parsed body and the tree of its values. The zero value is
// ready; a parser is reused for one body after another and is not safe for
// concurrent use.
type parser struct {
	body  []byte
	nodes []node
	// stack holds the node index of each open container while parsing.
	stack [MaxDepth]int
	// arena receives unescaped strings until the next parse.
	arena []byte
}

// parse checks that b is exactly one JSON value surrounded by optional
// whitespace, nested at most MaxDepth deep, and builds its tree. On failure
// it returns the offset of the offending byte and the reason; on success,
// -1 and "", and the root is p.root(). p keeps b until the next parse or
// putParser.
func (p *parser) parse(b []byte) (int, string) {
	p.body = b
	p.arena = p.arena[:0]
	nodes, off, reason := p.build(b, p.nodes[:0])
	p.nodes = nodes
	return off, reason
}

// build is parse's loop: it appends the nodes of b to nodes. It never
// recurses; p.stack holds the open containers.
func (p *parser) build(b []byte, nodes []node) ([]node, int, string) {
	depth := 0
	limit := MaxValues(len(b))
	// The key of the value about to be parsed, when it is a member.
	var keyStart, keyEnd int
	var keyFlag uint8
	i := skipSpace(b, 0)
	for {
		// A value starts at i.
		if i >= len(b) {
			return nodes, i, reasonInvalid
		}
		if len(nodes) == limit {
			return nodes, i, reasonValues
		}
		if len(nodes) == cap(nodes) {
			// Each pass appends one node: double here, so a big body's
			// tree is copied a few times rather than append's 1.25x
			// steps (allocation totals stay near twice the tree).
			nodes = slices.Grow(nodes, max(cap(nodes), 256))
		}
		n := node{flags: keyFlag, keyStart: int32(keyStart), keyEnd: int32(keyEnd), next: int32(len(nodes) + 1)}
		switch c := b[i]; {
		case c == '{' || c == '[':
			if depth == MaxDepth {
				return nodes, i, reasonDepth
			}
			n.kind = kindObject
			if c == '[' {
				n.kind = kindArray
			}
			at := len(nodes)
			nodes = append(nodes, n) // n.next is set when it closes
			p.stack[depth] = at
			depth++
			i = skipSpace(b, i+1)
			if i < len(b) && (c == '{' && b[i] == '}' || c == '[' && b[i] == ']') {
				depth--
				i++
				break
			}
			keyStart, keyEnd, keyFlag = 0, 0, 0
			if c == '{' {
				var ok bool
				if i, keyStart, keyEnd, keyFlag, ok = member(b, i); !ok {
					return nodes, i, reasonInvalid
				}
				if keyFlag != 0 {
					nodes[at].flags |= flagObjKeyEsc
				}
			}
			continue
		case c == '"':
			var esc, ok bool
			n.start = int32(i + 1)
			if i, esc, ok = scanString(b, i); !ok {
				return nodes, i, reasonInvalid
			}
			n.kind, n.end = kindString, int32(i-1)
			if esc {
				n.flags |= flagEsc
			}
			nodes = append(nodes, n)
		case c == 't' || c == 'f' || c == 'n':
			word, k := literal(c)
			if !hasWord(b, i, word) {
				return nodes, i, reasonInvalid
			}
			i += len(word)
			n.kind = k
			nodes = append(nodes, n)
		case c == '-' || c >= '0' && c <= '9':
			var ok bool
			n.start = int32(i)
			if i, ok = scanNumber(b, i); !ok {
				return nodes, i, reasonInvalid
			}
			n.kind, n.end = kindNumber, int32(i)
			nodes = append(nodes, n)
		default:
			return nodes, i, reasonInvalid
		}

		// After a value: close containers, or a comma then the next value.
		for {
			i = skipSpace(b, i)
			if depth == 0 {
				if i != len(b) {
					return nodes, i, reasonInvalid
				}
				return nodes, -1, ""
			}
			if i >= len(b) {
				return nodes, i, reasonInvalid
			}
			open := &nodes[p.stack[depth-1]]
			if open.kind == kindObject && b[i] == '}' || open.kind == kindArray && b[i] == ']' {
				open.next = int32(len(nodes))
				depth--
				i++
				continue
			}
			if b[i] != ',' {
				return nodes, i, reasonInvalid
			}
			i = skipSpace(b, i+1)
			keyStart, keyEnd, keyFlag = 0, 0, 0
			if open.kind == kindObject {
				var ok bool
				if i, keyStart, keyEnd, keyFlag, ok = member(b, i); !ok {
					return nodes, i, reasonInvalid
				}
				if keyFlag != 0 {
					open.flags |= flagObjKeyEsc
				}
			}
			break
		}
	}
}

// literal returns the literal starting with c ('t', 'f' or 'n') and its kind.
func literal(c byte) (string, kind) {
	switch c {
	case 't':
		return "true", kindTrue
	case 'f':
		return "false", kindFalse
	}
	return "null", kindNull
}

// MaxValues is how many JSON values (objects, arrays, strings, numbers,
// literals) Normalize accepts in a body of n bytes: 1024 plus one per 10
// bytes, and 200,000 at most. GitLab's payloads hold one value per 15 to
// 80 bytes; a body of bare `0,` items holds one per 2, and each value costs
// the tree a 24-byte node, so the budget keeps the tree of any body under
// 2.5 times its size, and under 5 MiB.
func MaxValues(n int) int { return min(1024+n/10, maxValuesAny) }

// maxValuesAny caps MaxValues whatever the size: no GitLab payload holds
// this many values (a push lists at most 20 commits).
const maxValuesAny = 200_000

// MaxDecodedValues is how many JSON values a payload may hold to be read
// whole by a rule condition (payload.x) or a plugin (event.payload):
// decoded into maps or Lua tables each value costs 100 to 200 bytes, and
// every worker may decode one at once.
const MaxDecodedValues = 100_000

// CountValues returns an upper bound of the JSON values in a valid body,
// within a few: one per container and one per comma outside strings. It
// reads the body once and allocates nothing.
func CountValues(body []byte) int {
	n := 1
	for i := 0; i < len(body); i++ {
		switch body[i] {
		case '"':
			end, _, ok := scanString(body, i)
			if !ok {
				return n
			}
			i = end - 1
		case '{', '[', ',':
			n++
		}
	}
	return n
}

// root returns the body's top-level value after a successful parse.
func (p *parser) root() value { return value{p, 0} }

// treeParsers pools parsers for bodies of up to bigBody bytes.
var treeParsers = sync.Pool{New: func() any { return new(parser) }}

// getParser returns a parser for a body of n bytes: a pooled one, or a new
// one for a body above bigBody, so the pool does not keep huge buffers.
func getParser(n int) *parser {
	if n > bigBody {
		return new(parser)
	}
	return treeParsers.Get().(*parser)
}

// putParser gives back a parser from getParser, for a body of n bytes.
func putParser(p *parser, n int) {
	if n > bigBody {
		return
	}
	p.body = nil // keep no reference to the caller's buffer
	treeParsers.Put(p)
}
