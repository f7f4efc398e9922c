package envelope

// Locating a delivery's project before it is authenticated. The secret
// that authenticates a delivery depends on its project, which only the body
// names; building the envelope's tree first would let anyone who can reach
// the receiver make it allocate a node per JSON value (a 25 MB body of
// `[0,0,...]` is 13 million nodes). Locate reads the few fields the project
// is derived from with a scan that keeps no state but a position and the
// handful of strings it wants, whatever the body holds.

// Location is the project a body names, as Normalize derives it.
type Location struct {
	// Path is the project's path_with_namespace ("" when the body names
	// none, as system hooks for users do).
	Path string
	// URL is the project's web URL.
	URL string
}

// Locate returns the project body names, derived from exactly the fields
// and rules Normalize uses (deriveProject), given the X-Gitlab-Instance
// header (instance, may be ""). It reads the body once, allocates only the
// strings it returns (and the unescaped text of those fields), and nests no
// deeper than the three levels those fields sit at, however deep the body
// is.
//
// It is not a validator: for a body that is not a JSON object it returns a
// *SyntaxError where it notices, and it may return a Location for a body
// Normalize refuses later. For a body Normalize accepts, Locate's Path and
// URL are Normalize's, except for bodies with duplicate or escaped keys at
// those fields (see parser.member for fastjson's rules): callers that
// authenticate by Location must check that the envelope agrees.
func Locate(body []byte, instance string) (Location, error) {
	l := locator{b: body}
	i := skipSpace(body, 0)
	switch {
	case i == len(body):
		return Location{}, &SyntaxError{Reason: "body is empty", Offset: -1}
	case body[i] == '[':
		return Location{}, &SyntaxError{Reason: "body is a JSON array, not an object", Offset: int64(i)}
	case body[i] != '{':
		return Location{}, &SyntaxError{Reason: "body is a JSON value but not an object", Offset: int64(i)}
	}
	if _, err := l.object(i, locateRoot); err != nil {
		return Location{}, err
	}
	path, url, _ := deriveProject(func(f projectField) string { return l.text[f] }, instance)
	return Location{Path: path, URL: url}, nil
}

// want is a member Locate looks for in an object: a field whose text it
// keeps, or an object it descends into.
type want struct {
	key      string
	field    projectField // when in is nil
	in       []want       // the members wanted in this member's object
	fieldSet bool
}

func field(key string, f projectField) want { return want{key: key, field: f, fieldSet: true} }

// locateRoot is the tree of members deriveProject reads, as fillProject
// reaches them.
var locateRoot = []want{
	{key: "project", in: []want{field("path_with_namespace", pfPath), field("web_url", pfURL)}},
	{key: "object_attributes", in: []want{
		{key: "target", in: []want{field("path_with_namespace", pfTargetPath), field("web_url", pfTargetURL)}},
		field("url", pfAttrsURL),
	}},
	field("path_with_namespace", pfRootPath),
	field("project_path_with_namespace", pfRootProjectPath),
	{key: "repository", in: []want{field("homepage", pfHomepage)}},
}

// MaxLocatedField is the longest project path or URL Locate takes: GitLab's
// are far shorter (a path is at most a few hundred bytes). A longer one
// is refused before anything is authenticated, so an unauthenticated
// client cannot make the receiver copy or log megabytes.
const MaxLocatedField = 4096

// maxWantedKey is the longest key in locateRoot: longer keys are never
// unescaped.
const maxWantedKey = len("project_path_with_namespace")

type locator struct {
	b    []byte
	text [numProjectFields]string
	// arena holds an unescaped key while it is compared.
	arena [maxWantedKey * 6]byte
}

// object reads the object whose '{' is at b[i], keeping the wanted members
// (the first member of each wanted key counts, as with the tree's lookups)
// and skipping the rest; it returns the offset after the closing '}'.
func (l *locator) object(i int, wants []want) (int, error) {
	b := l.b
	var seen uint32 // bit k: wants[k] was met
	i = skipSpace(b, i+1)
	if i < len(b) && b[i] == '}' {
		return i + 1, nil
	}
	for {
		next, ks, ke, flag, ok := member(b, i)
		if !ok {
			return next, &SyntaxError{Reason: reasonInvalid, Offset: int64(next)}
		}
		i = next
		k := -1
		if key := l.key(b[ks:ke], flag != 0); key != nil {
			for j := range wants {
				if seen&(1<<j) == 0 && wants[j].key == string(key) {
					k = j
					seen |= 1 << j
					break
				}
			}
		}
		var err error
		switch {
		case k < 0:
			i, err = skipValue(b, i)
		case wants[k].fieldSet:
			i, err = l.scalar(i, wants[k].field)
		case i < len(b) && b[i] == '{':
			i, err = l.object(i, wants[k].in)
		default: // not an object: the tree's lookups find nothing there either
			i, err = skipValue(b, i)
		}
		if err != nil {
			return i, err
		}
		i = skipSpace(b, i)
		if i >= len(b) {
			return i, &SyntaxError{Reason: reasonInvalid, Offset: int64(i)}
		}
		switch b[i] {
		case '}':
			return i + 1, nil
		case ',':
			i = skipSpace(b, i+1)
		default:
			return i, &SyntaxError{Reason: reasonInvalid, Offset: int64(i)}
		}
	}
}

// key returns a member's key as the tree compares it (unescaped), or nil
// when it is too long to be wanted. The bytes are valid until the next
// call.
func (l *locator) key(raw []byte, esc bool) []byte {
	if !esc {
		if len(raw) > maxWantedKey {
			return nil
		}
		return raw
	}
	if len(raw) > len(l.arena) {
		return nil
	}
	return unescape(l.arena[:0], raw)
}

// scalar keeps the text str would give the value at b[i] (a string
// unescaped, a number as written, true or false; "" for the rest) in
// field f, and returns the offset after the value.
func (l *locator) scalar(i int, f projectField) (int, error) {
	b := l.b
	if i >= len(b) {
		return i, &SyntaxError{Reason: reasonInvalid, Offset: int64(i)}
	}
	switch c := b[i]; {
	case c == '"':
		end, esc, ok := scanString(b, i)
		if !ok {
			return end, &SyntaxError{Reason: reasonInvalid, Offset: int64(end)}
		}
		raw := b[i+1 : end-1]
		if len(raw) > MaxLocatedField {
			return i, &SyntaxError{Reason: "body names a project path or URL longer than 4096 bytes", Offset: int64(i)}
		}
		if esc {
			l.text[f] = string(unescape(nil, raw))
		} else {
			l.text[f] = string(raw)
		}
		return end, nil
	case c == '-' || c >= '0' && c <= '9':
		end, ok := scanNumber(b, i)
		if !ok {
			return end, &SyntaxError{Reason: reasonInvalid, Offset: int64(end)}
		}
		if end-i > MaxLocatedField {
			return i, &SyntaxError{Reason: "body names a project path or URL longer than 4096 bytes", Offset: int64(i)}
		}
		l.text[f] = string(b[i:end])
		return end, nil
	case c == 't' && hasWord(b, i, "true"):
		l.text[f] = "true"
		return i + 4, nil
	case c == 'f' && hasWord(b, i, "false"):
		l.text[f] = "false"
		return i + 5, nil
	}
	return skipValue(b, i)
}

// skipValue returns the offset after the JSON value at b[i], with a depth
// counter rather than a stack: any nesting costs nothing. Strings are
// scanned so their brackets do not count; the rest is Normalize's to
// validate.
func skipValue(b []byte, i int) (int, error) {
	depth := 0
	for {
		i = skipSpace(b, i)
		if i >= len(b) {
			return i, &SyntaxError{Reason: reasonInvalid, Offset: int64(i)}
		}
		switch c := b[i]; c {
		case '"':
			end, _, ok := scanString(b, i)
			if !ok {
				return end, &SyntaxError{Reason: reasonInvalid, Offset: int64(end)}
			}
			i = end
		case '{', '[':
			depth++
			i++
			continue
		case '}', ']':
			depth--
			if depth < 0 {
				return i, &SyntaxError{Reason: reasonInvalid, Offset: int64(i)}
			}
			i++
		case ',', ':':
			if depth == 0 {
				return i, &SyntaxError{Reason: reasonInvalid, Offset: int64(i)}
			}
			i++
			continue
		default:
			// A number or literal: up to the next delimiter.
			start := i
			for i < len(b) && !delimiter[b[i]] {
				i++
			}
			if i == start {
				return i, &SyntaxError{Reason: reasonInvalid, Offset: int64(i)}
			}
		}
		if depth == 0 {
			return i, nil
		}
	}
}

// delimiter marks the bytes that end a number or literal.
var delimiter = func() (t [256]bool) {
	for _, c := range []byte(",:]}{[\" \t\r\n") {
		t[c] = true
	}
	return t
}()
