// What both browser drivers share: tests/forms/driver.mjs (a form rendered alone) and
// tests/tasklist/driver.mjs (the form Tasklist renders).

// form-js's debounce of field changes (useFlushDebounce's default, 300 ms), plus a margin.
const FORM_JS_DEBOUNCE_MS = 400;

// After typing into a field and leaving it. form-js 1.8.7's number field sends its value once
// more after the blur, debounced, and the form's re-render then resets the text typed meanwhile
// into the next field to that field's last debounced value (the start of a comment lost, seen
// in Tasklist and with the viewer alone on a loaded machine). An operator never types into the
// next field within 300 ms; neither does a driver.
export async function afterLeaving(input) {
  if (await input.evaluate((element) => !!element.closest('.fjs-form-field-number'))) {
    await new Promise((resolve) => setTimeout(resolve, FORM_JS_DEBOUNCE_MS));
  }
}

// Runs in the page: finds the fields of the form-js form under `root` (a CSS selector) by their
// visible label and reads what an operator sees. Installed as window.__harness.
export function installHarness(root) {
  const NOT_A_TYPE = new Set(['label', 'error', 'description', 'grouplike']);

  const clean = (text) => text.replace(/\s+/g, ' ').trim();

  function labelText(label) {
    const copy = label.cloneNode(true);
    copy.querySelectorAll('.fjs-asterix, input').forEach((node) => node.remove());
    return clean(copy.textContent).replace(/\s*\*$/, '');
  }

  function typeOf(element) {
    for (const name of element.classList) {
      const match = /^fjs-form-field-(.+)$/.exec(name);
      if (match && !NOT_A_TYPE.has(match[1])) return match[1];
    }
    return null;
  }

  // The field's own label: the first label of the field that is not an option's (no input in it,
  // or a checkbox whose one input is the field's).
  function ownLabel(element) {
    const labels = [...element.querySelectorAll('label.fjs-form-field-label')].filter(
      (label) => label.closest('.fjs-form-field') === element,
    );
    if (typeOf(element) === 'checkbox') return labels[0] || null;
    return labels.find((label) => !label.querySelector('input')) || null;
  }

  function optionLabels(element) {
    return [...element.querySelectorAll('label.fjs-form-field-label')].filter(
      (label) => label.closest('.fjs-form-field') === element && label.querySelector('input'),
    );
  }

  function allFields() {
    return [...document.querySelectorAll(`${root} .fjs-form-field`)].filter((element) =>
      typeOf(element),
    );
  }

  function fieldId(element) {
    const form = window.__form;
    if (!form) return null;
    const prefix = `fjs-form-${form._id}-`;
    const withId = element.querySelector('[id^="' + prefix + '"]');
    if (!withId) return null;
    const rest = withId.id.slice(prefix.length);
    const ids = form.get('formFieldRegistry').getAll().map((field) => field.id);
    return ids.find((id) => rest === id) || ids.find((id) => rest.startsWith(id + '-')) || null;
  }

  function find(label, types) {
    const matches = allFields().filter((element) => {
      const own = ownLabel(element);
      return own && labelText(own) === label && (!types || types.includes(typeOf(element)));
    });
    if (matches.length === 1) return matches[0];
    const labels = allFields()
      .map((element) => ownLabel(element))
      .filter(Boolean)
      .map(labelText);
    const what = types ? `${types.join('/')} field` : 'field';
    if (!matches.length) {
      const known = JSON.stringify(labels);
      throw new Error(`no ${what} labelled ${JSON.stringify(label)}; labels: ${known}`);
    }
    throw new Error(`${matches.length} fields labelled ${JSON.stringify(label)}`);
  }

  function shownErrors(element) {
    return [...element.querySelectorAll('.fjs-form-field-error li')]
      .filter((item) => item.closest('.fjs-form-field') === element)
      .map((item) => clean(item.textContent));
  }

  function valueOf(element) {
    const type = typeOf(element);
    const options = optionLabels(element);
    if (type === 'radio') {
      const checked = options.find((label) => label.querySelector('input').checked);
      return checked ? labelText(checked) : null;
    }
    if (type === 'checklist') {
      return options.filter((label) => label.querySelector('input').checked).map(labelText);
    }
    if (type === 'checkbox') {
      const input = element.querySelector('input[type="checkbox"]');
      return input ? input.checked : null;
    }
    const control = element.querySelector('textarea, input:not([type="hidden"])');
    if (control) return control.value;
    if (type === 'select') {
      const shown = element.querySelector('.fjs-select-display');
      return shown ? clean(shown.textContent) : null;
    }
    return element.innerText;
  }

  function describe(element) {
    const own = ownLabel(element);
    const controls = [...element.querySelectorAll('input, textarea, select')];
    return {
      id: fieldId(element),
      label: own ? labelText(own) : null,
      type: typeOf(element),
      value: valueOf(element),
      disabled:
        element.classList.contains('fjs-disabled') ||
        (controls.length > 0 && controls.every((control) => control.disabled)),
      required: Boolean(own && own.querySelector('.fjs-asterix')),
      options: optionLabels(element).map(labelText),
      errors: shownErrors(element),
      text: element.innerText,
    };
  }

  function control(label) {
    const element = find(label, null);
    const input = element.querySelector(
      'textarea, input:not([type="hidden"]):not([type="radio"]):not([type="checkbox"])',
    );
    if (!input) {
      throw new Error(`the ${typeOf(element)} field ${JSON.stringify(label)} has no text input`);
    }
    if (input.disabled) throw new Error(`the field ${JSON.stringify(label)} is disabled`);
    if (input.readOnly) throw new Error(`the field ${JSON.stringify(label)} is read-only`);
    return input;
  }

  function option(label, text) {
    const element = find(label, ['radio', 'checklist']);
    const options = optionLabels(element);
    const match = options.find((candidate) => labelText(candidate) === text);
    if (!match) {
      const known = JSON.stringify(options.map(labelText));
      const wanted = JSON.stringify(text);
      throw new Error(`${JSON.stringify(label)} has no option ${wanted}; options: ${known}`);
    }
    if (match.querySelector('input').disabled) {
      throw new Error(`the field ${JSON.stringify(label)} is disabled`);
    }
    return match;
  }

  window.__harness = {
    fields: () => allFields().map(describe),
    control,
    option,
    isChecked: (label) => label.querySelector('input').checked,
    shownErrors: () => {
      const shown = {};
      for (const element of allFields()) {
        const errors = shownErrors(element);
        if (!errors.length) continue;
        const own = ownLabel(element);
        shown[own ? labelText(own) : fieldId(element) || typeOf(element)] = errors;
      }
      return shown;
    },
  };
}
