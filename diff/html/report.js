// The details panel of goldenpcr's diff report. Everything from the logs
// goes into the page as text (textContent), never as markup.
(function () {
	'use strict';
	var report = JSON.parse(document.getElementById('report-data').textContent);
	var panel = document.getElementById('details');
	var selected = null;

	function el(tag, cls, text) {
		var e = document.createElement(tag);
		if (cls) e.className = cls;
		if (text !== undefined) e.textContent = text;
		return e;
	}

	// field adds a name and value to dl, unless the value is absent.
	function field(dl, name, value, code) {
		if (value === undefined || value === null || value === '') return;
		dl.appendChild(el('dt', '', name));
		var dd = el('dd');
		dd.appendChild(code ? el('code', '', String(value)) : document.createTextNode(String(value)));
		dl.appendChild(dd);
	}

	function side(label, e) {
		var s = el('section', 'event ' + label);
		s.appendChild(el('h3', '', label));
		if (!e) {
			s.appendChild(el('p', 'absent', label === 'expected' ? 'no such event expected' : 'no such event in the log'));
			return s;
		}
		var dl = el('dl', 'fields');
		field(dl, 'type', e.type);
		field(dl, 'index', e.index);
		field(dl, 'log', e.log);
		field(dl, 'summary', e.summary);
		Object.keys(e.digests || {}).sort().forEach(function (alg) {
			field(dl, alg, e.digests[alg], true);
		});
		field(dl, 'quirk', e.quirk);
		field(dl, 'rule', e.rule);
		field(dl, 'artifact', e.artifact);
		field(dl, 'artifact sha256', e.artifact_sha256, true);
		s.appendChild(dl);
		if (e.decoded !== undefined && e.decoded !== null) {
			s.appendChild(el('h3', '', 'decoded'));
			s.appendChild(el('pre', 'decoded', JSON.stringify(e.decoded, null, 2)));
		}
		return s;
	}

	function show(button) {
		var pcr = report.pcrs[Number(button.dataset.pcr)];
		var k = Number(button.dataset.step);
		var step = pcr.steps[k];
		var h = el('h2', '', 'PCR ' + pcr.pcr + ', event ' + (k + 1) + ' of ' + pcr.steps.length + ': ' + step.kind);
		if (k === pcr.first_divergence) {
			h.appendChild(document.createTextNode(' '));
			h.appendChild(el('span', 'badge first', 'first divergence'));
		}
		var parts = [h];
		if (step.hints && step.hints.length) {
			var ul = el('ul', 'hints');
			step.hints.forEach(function (hint) {
				var li = el('li');
				li.appendChild(el('span', 'cause', hint.cause + ': '));
				li.appendChild(document.createTextNode(hint.detail));
				ul.appendChild(li);
			});
			parts.push(ul);
		}
		parts.push(side('expected', step.expected), side('actual', step.actual));
		panel.replaceChildren.apply(panel, parts);
		panel.scrollTop = 0;
		if (selected) selected.setAttribute('aria-pressed', 'false');
		button.setAttribute('aria-pressed', 'true');
		selected = button;
	}

	document.addEventListener('click', function (ev) {
		var b = ev.target.closest('button.step');
		if (b) show(b);
	});
	// Up and down move along a PCR's timeline.
	document.addEventListener('keydown', function (ev) {
		var b = ev.target.closest && ev.target.closest('button.step');
		if (!b || (ev.key !== 'ArrowDown' && ev.key !== 'ArrowUp')) return;
		var li = ev.key === 'ArrowDown' ? b.parentElement.nextElementSibling : b.parentElement.previousElementSibling;
		if (li) {
			ev.preventDefault();
			var next = li.querySelector('button.step');
			next.focus();
			show(next);
		}
	});
}());
