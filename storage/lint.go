package storage

import (
	"fmt"
	"strings"
)

// LintMigration checks a migration against the append-only rules: no DROP,
// no RENAME, no FOREIGN KEY constraints (REFERENCES), ALTER TABLE only to ADD
// a column, and an added column is nullable or has a DEFAULT. Keywords inside
// comments, string literals and quoted identifiers do not count.
func LintMigration(sql string) error {
	toks := sqlWords(sql)
	for i, t := range toks {
		switch t {
		case "DROP", "RENAME":
			return fmt.Errorf("%s is not allowed: migrations are append-only (never drop, never rename)", t)
		case "REFERENCES", "FOREIGN":
			return fmt.Errorf("%s is not allowed: no foreign key constraints, integrity is enforced in Go", t)
		case "ALTER":
			if err := lintAlter(toks[i+1:]); err != nil {
				return err
			}
		}
	}
	return nil
}

// lintAlter checks the words after ALTER: TABLE name ADD [COLUMN] def...
func lintAlter(toks []string) error {
	if len(toks) < 3 || toks[0] != "TABLE" || toks[2] != "ADD" {
		return fmt.Errorf("ALTER is only allowed as ALTER TABLE ... ADD COLUMN")
	}
	def := toks[3:]
	notNull, hasDefault := false, false
	for i, t := range def {
		if t == ";" {
			break
		}
		if t == "NOT" && i+1 < len(def) && def[i+1] == "NULL" {
			notNull = true
		}
		if t == "DEFAULT" {
			hasDefault = true
		}
	}
	if notNull && !hasDefault {
		return fmt.Errorf("ADD COLUMN ... NOT NULL needs a DEFAULT, so existing rows and older binaries keep working")
	}
	return nil
}

// sqlWords splits SQL into upper-cased bare words and ";" separators,
// skipping comments, string literals and quoted identifiers.
func sqlWords(sql string) []string {
	var out []string
	for i := 0; i < len(sql); {
		c := sql[i]
		switch {
		case c == '-' && i+1 < len(sql) && sql[i+1] == '-':
			for i < len(sql) && sql[i] != '\n' {
				i++
			}
		case c == '/' && i+1 < len(sql) && sql[i+1] == '*':
			end := strings.Index(sql[i+2:], "*/")
			if end < 0 {
				return out
			}
			i += end + 4
		case c == '\'' || c == '"' || c == '`' || c == '[':
			closer := c
			if c == '[' {
				closer = ']'
			}
			i++
			for i < len(sql) {
				if sql[i] == closer {
					// A doubled quote is an escaped quote.
					if closer != ']' && i+1 < len(sql) && sql[i+1] == closer {
						i += 2
						continue
					}
					break
				}
				i++
			}
			i++
			out = append(out, "?") // a literal or identifier, never a keyword
		case c == ';':
			out = append(out, ";")
			i++
		case isWordByte(c):
			j := i
			for j < len(sql) && isWordByte(sql[j]) {
				j++
			}
			out = append(out, strings.ToUpper(sql[i:j]))
			i = j
		default:
			i++
		}
	}
	return out
}

func isWordByte(c byte) bool {
	return c == '_' || c == '$' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
}
