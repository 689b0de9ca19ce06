package process

import (
	"github.com/ferry-dev/ferry/pkg/event"
)

// maxResolved bounds the per-Meta cache of resolutions; it is cleared when
// full.
const maxResolved = 4096

// resolve returns what applies to the lines of m: the cluster config, or
// what the pod's annotations choose where the config honours them
// (<prefix>/multiline-<container> before <prefix>/multiline, the same for
// parser; <prefix>/exclude-stdout and -stderr). An annotation with an
// unknown value is ignored, logged and counted.
func (p *Processor) resolve(m *event.Meta) *resolved {
	if m == p.lastMeta && p.lastRes != nil {
		return p.lastRes
	}
	r := &p.base
	a := p.cfg.Annotations
	if m != nil && len(m.Annotations) > 0 && (a.Multiline || a.Parser || a.Exclude) {
		if c, ok := p.resolvedBy[m]; ok {
			r = c
		} else {
			r = p.fromAnnotations(m)
			if len(p.resolvedBy) >= maxResolved {
				clear(p.resolvedBy)
			}
			p.resolvedBy[m] = r
		}
	}
	p.lastMeta, p.lastRes = m, r
	return r
}

func (p *Processor) fromAnnotations(m *event.Meta) *resolved {
	a := p.cfg.Annotations
	r := p.base
	pick := func(kind string) (string, bool) {
		if v, ok := m.Annotations[a.Prefix+"/"+kind+"-"+m.Container]; ok {
			return v, true
		}
		v, ok := m.Annotations[a.Prefix+"/"+kind]
		return v, ok
	}
	bad := func(kind, v string) {
		p.m.annotationErrors.Inc()
		p.log.Warn("ignoring a pod annotation with an unknown value", "namespace", m.Namespace, "pod", m.Pod,
			"container", m.Container, "annotation", a.Prefix+"/"+kind, "value", v)
	}
	if a.Multiline {
		if v, ok := pick("multiline"); ok {
			switch rule := p.rules[v]; {
			case v == "none":
				r.ml = nil
			case rule != nil:
				r.ml = rule
			default:
				bad("multiline", v)
			}
		}
	}
	if a.Parser {
		if v, ok := pick("parser"); ok {
			switch ps := p.parserNamed(v); {
			case v == "none":
				r.parser = nil
			case ps != nil:
				r.parser = ps
			default:
				bad("parser", v)
			}
		}
	}
	if a.Exclude {
		r.exclude[event.Stdout] = m.Annotations[a.Prefix+"/exclude-stdout"] == "true"
		r.exclude[event.Stderr] = m.Annotations[a.Prefix+"/exclude-stderr"] == "true"
	}
	return &r
}
