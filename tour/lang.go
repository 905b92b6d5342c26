package tour

import (
	"strconv"
	"strings"
	"sync"

	"golang.org/x/text/language"
	"golang.org/x/text/message"
	"golang.org/x/text/message/catalog"

	"github.com/sockit/sockit"
)

// Languages are the values Options.Lang takes besides "".
func Languages() []string { return []string{"en", "zh"} }

// catalogs are the translations, by language: each maps an English
// format, the key, to its translation with the same verbs in the same
// order. English needs none: the key is the English. One file per
// language holds its map (catalog_zh.go).
var catalogs = map[string]map[string]string{
	"zh": zh,
}

// tags are the languages' tags for golang.org/x/text.
var tags = map[string]language.Tag{"zh": language.SimplifiedChinese}

// theCatalog is the x/text catalog of every translation, made once.
var theCatalog = sync.OnceValue(func() catalog.Catalog {
	b := catalog.NewBuilder(catalog.Fallback(language.English))
	for lang, m := range catalogs {
		for key, msg := range m {
			if err := b.SetString(tags[lang], key, msg); err != nil {
				panic("tour: catalog " + lang + ": " + key + ": " + err.Error())
			}
		}
	}
	return b
})

// printerFor is the printer of lang: nil for English (fmt's own words),
// a golang.org/x/text message printer for the others.
func printerFor(lang string) (*xprinter, error) {
	switch normLang(lang) {
	case "en":
		return nil, nil
	case "zh":
		return &xprinter{message.NewPrinter(tags["zh"], message.Catalog(theCatalog()))}, nil
	}
	return nil, sockit.BadOption("tour.Options", "Lang", "is "+strconv.Quote(lang)+"; the tour speaks "+strings.Join(Languages(), " and "))
}

// CheckLang returns an *sockit.OptionError naming Options.Lang when the
// tour does not speak lang.
func CheckLang(lang string) error {
	_, err := printerFor(lang)
	return err
}

// Title is l's title in lang; English when lang is not one the tour
// speaks.
func Title(l Lesson, lang string) string {
	if t, ok := lookup(lang, l.Title); ok {
		return t
	}
	return l.Title
}

// SideName is a side of a lesson ("client", "server", "client2", as
// Record.Side has it) in lang's words, for a person to read.
func SideName(side, lang string) string {
	base := strings.TrimRight(side, "0123456789")
	if t, ok := lookup(lang, base); ok && base != "" {
		return t + side[len(base):]
	}
	return side
}

// normLang maps "", "en", "zh", "zh-CN", "zh_Hans"... to "en" or "zh", or
// returns lang itself.
func normLang(lang string) string {
	l := strings.ToLower(lang)
	switch {
	case l == "" || l == "en" || strings.HasPrefix(l, "en-") || strings.HasPrefix(l, "en_"):
		return "en"
	case l == "zh" || strings.HasPrefix(l, "zh-") || strings.HasPrefix(l, "zh_"):
		return "zh"
	}
	return lang
}

// lookup is the translation of key in lang, and whether there is one.
// English has every key.
func lookup(lang, key string) (string, bool) {
	l := normLang(lang)
	if l == "en" {
		return key, true
	}
	s, ok := catalogs[l][key]
	return s, ok
}

// xprinter is a language's golang.org/x/text message printer.
type xprinter struct{ p *message.Printer }

func (x *xprinter) Translate(format string, a ...any) string { return x.p.Sprintf(format, a...) }
