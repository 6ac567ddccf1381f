package httpd

import (
	"compress/gzip"
	"io"
	"mime"
	"path"
	"strings"

	"github.com/andybalholm/brotli"
)

// compressible says whether a content type is worth compressing: text,
// and the structured and script types. Images, video, archives and fonts
// other than SVG are compressed already.
func compressible(ctype string) bool {
	t, _, _ := mime.ParseMediaType(ctype)
	switch {
	case strings.HasPrefix(t, "text/"):
		return true
	case t == "application/javascript", t == "application/json", t == "application/xml",
		t == "application/wasm", t == "image/svg+xml", t == "application/manifest+json",
		t == "application/x-javascript", t == "application/rss+xml", t == "application/atom+xml":
		return true
	}
	return strings.HasSuffix(t, "+json") || strings.HasSuffix(t, "+xml")
}

// encoders compress into gz and br; the levels are the strongest whose
// cost stays small for the file's size (a form is made once per content).
// Brotli 7, not 9: 1-2% larger, and a quarter of the garbage (brotli 9's
// hash tables are 34 MiB per file, whatever its size; 7's 9 MiB).
func encoders(gz, br io.Writer, size int64) (io.WriteCloser, io.WriteCloser) {
	gzLevel, brLevel := gzip.BestCompression, 7
	if size > 1<<20 {
		gzLevel, brLevel = gzip.DefaultCompression, 5
	}
	zw, _ := gzip.NewWriterLevel(gz, gzLevel)
	// A window no larger than the file: brotli's memory follows it.
	lgwin := 10
	for lgwin < 24 && int64(1)<<lgwin < size {
		lgwin++
	}
	bw := brotli.NewWriterOptions(br, brotli.WriterOptions{Quality: brLevel, LGWin: lgwin})
	return zw, bw
}

// accepts reports whether the request's Accept-Encoding takes coding with
// a non-zero quality.
func accepts(header, coding string) bool {
	for _, part := range strings.Split(header, ",") {
		name, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		if !strings.EqualFold(strings.TrimSpace(name), coding) && strings.TrimSpace(name) != "*" {
			continue
		}
		params = strings.ReplaceAll(params, " ", "")
		return !(params == "q=0" || params == "q=0.0" || params == "q=0.00" || params == "q=0.000")
	}
	return false
}

// contentType is the type for a name's extension, or "" to sniff.
func contentType(name string) string {
	ext := strings.ToLower(path.Ext(name))
	switch ext {
	case ".js", ".mjs":
		return "text/javascript; charset=utf-8"
	case ".webmanifest":
		return "application/manifest+json"
	case ".wasm":
		return "application/wasm"
	case ".md":
		return "text/markdown; charset=utf-8"
	}
	return mime.TypeByExtension(ext)
}

// cacheControl chooses Cache-Control: HTML revalidates; names with a hash
// in them are immutable; the rest is fresh for five minutes.
func cacheControl(name, ctype string) string {
	if strings.HasPrefix(ctype, "text/html") {
		return "no-cache"
	}
	if hashedName(path.Base(name)) {
		return "public, max-age=31536000, immutable"
	}
	return "public, max-age=300"
}

// hashedName reports whether a file name carries a content hash: a part,
// between dots, dashes or underscores, of at least 8 hex digits with a
// digit and a letter in it ("app.3f9a2c1b.js", "main-4d5e6f7a8b.css").
func hashedName(name string) bool {
	for _, part := range strings.FieldsFunc(name, func(r rune) bool { return r == '.' || r == '-' || r == '_' }) {
		if len(part) < 8 {
			continue
		}
		hex, digit, letter := true, false, false
		for _, c := range part {
			switch {
			case c >= '0' && c <= '9':
				digit = true
			case c >= 'a' && c <= 'f', c >= 'A' && c <= 'F':
				letter = true
			default:
				hex = false
			}
		}
		if hex && digit && letter {
			return true
		}
	}
	return false
}
