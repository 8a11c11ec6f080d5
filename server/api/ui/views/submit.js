// Submit: a form generated from the kind's params schema (GET /v1/kinds), posted as a job spec
// to POST /v1/jobs. The page does not validate params itself: jobd does, and its problem
// details are shown on the field their JSON pointer names (`/params/n` -> the n field), so the
// form can never disagree with the server.
import { call } from '../api.js';
import { fill, h, setText } from '../dom.js';
import { loadKinds } from '../kinds.js';

const LONG_TEXT = 200; // strings that may be longer than this get a textarea

// One param -> {element, read()} where read() is the value to send, or undefined to leave it out
// (so that jobd applies the default, or says the param is required).
function paramInput(name, schema, required) {
  const id = `param-${name}`;
  const placeholder =
    schema.default !== undefined
      ? `default: ${JSON.stringify(schema.default)}`
      : required
        ? 'required'
        : 'optional';
  if (schema.enum || schema.type === 'boolean') {
    const choices = schema.enum ?? [true, false];
    const select = h(
      'select',
      { id, name },
      h('option', { value: '' }, `(${placeholder})`),
      choices.map((c) => h('option', { value: JSON.stringify(c) }, String(c))),
    );
    return { element: select, read: () => (select.value === '' ? undefined : JSON.parse(select.value)) };
  }
  if (schema.type === 'integer' || schema.type === 'number') {
    // type=text, not number: a browser would turn "12x" into "" silently; jobd names the mistake.
    const input = h('input', {
      id,
      name,
      type: 'text',
      inputMode: 'decimal',
      placeholder,
      autocomplete: 'off',
    });
    return {
      element: input,
      read: () => {
        const text = input.value.trim();
        if (text === '') return undefined;
        const number = Number(text);
        return Number.isFinite(number) ? number : text;
      },
    };
  }
  const long = schema.maxLength === undefined || schema.maxLength > LONG_TEXT;
  const input = long
    ? h('textarea', { id, name, rows: 3, placeholder })
    : h('input', { id, name, type: 'text', placeholder, autocomplete: 'off' });
  return { element: input, read: () => (input.value === '' ? undefined : input.value) };
}

function field(label, control, help, pointer) {
  const error = h('p.field-error', { hidden: true, dataset: { errorFor: pointer } });
  return h(
    'div.field',
    { dataset: { pointer } },
    h('label', { htmlFor: control.id }, label),
    control,
    help ? h('p.help', null, help) : null,
    error,
  );
}

export function submitView(root) {
  const kindSelect = h('select', { id: 'submit-kind', name: 'kind' });
  const description = h('p.muted', { id: 'kind-description' });
  const executorSelect = h('select', { id: 'submit-executor', name: 'executor' });
  const paramsBox = h('fieldset', null);
  const timeout = h('input', {
    id: 'submit-timeout',
    name: 'timeout_ms',
    type: 'text',
    inputMode: 'numeric',
    placeholder: 'server default',
    autocomplete: 'off',
  });
  const idempotency = h('input', {
    id: 'submit-idempotency',
    name: 'idempotency_key',
    type: 'text',
    placeholder: 'optional',
    autocomplete: 'off',
  });
  const formError = h('div.problem', { hidden: true, id: 'submit-problem', role: 'alert' });
  const submit = h('button.primary', { type: 'submit', id: 'submit-job' }, 'Submit job');
  const form = h(
    'form.submit',
    { id: 'submit-form', novalidate: true },
    field('Kind', kindSelect, null, '/kind'),
    description,
    field('Executor', executorSelect, null, '/executor'),
    paramsBox,
    field('Timeout (ms)', timeout, 'Deadline of each attempt, counted from its dispatch.', '/timeout_ms'),
    field(
      'Idempotency key',
      idempotency,
      'Submitting again with the same key returns the same job.',
      '/idempotency_key',
    ),
    formError,
    h('div.actions', null, submit),
  );
  fill(root, h('h1', null, 'Submit a job'), form);

  let kinds = [];
  let readers = {}; // param name -> read()
  let freeForm = null; // the JSON textarea of a kind whose params are any object

  function showKind() {
    const kind = kinds.find((k) => k.name === kindSelect.value);
    if (!kind) return;
    setText(description, `${kind.description} Cancellation: ${kind.cancellation}.`);
    fill(
      executorSelect,
      kind.executors.map((e) =>
        h(
          'option',
          { value: e, selected: e === kind.default_executor },
          e === kind.default_executor ? `${e} (default)` : e,
        ),
      ),
    );
    readers = {};
    freeForm = null;
    const properties = kind.params.properties;
    const fields = [h('legend', null, 'Params')];
    if (!properties) {
      freeForm = h('textarea.mono', {
        id: 'param-json',
        name: 'params',
        rows: 5,
        placeholder: '{"any": "JSON object"}',
      });
      fields.push(field('params (a JSON object)', freeForm, null, '/params'));
    } else {
      const required = new Set(kind.params.required ?? []);
      const names = Object.keys(properties);
      if (names.length === 0) fields.push(h('p.muted', null, 'This kind takes no params.'));
      for (const name of names) {
        const schema = properties[name];
        const { element, read } = paramInput(name, schema, required.has(name));
        readers[name] = read;
        const label = `${name}${required.has(name) ? ' *' : ''} (${schema.type})`;
        const bounds = [
          schema.minimum !== undefined ? `≥ ${schema.minimum}` : '',
          schema.maximum !== undefined ? `≤ ${schema.maximum}` : '',
          schema.maxLength !== undefined ? `≤ ${schema.maxLength} characters` : '',
        ]
          .filter(Boolean)
          .join(', ');
        fields.push(
          field(label, element, [schema.description, bounds].filter(Boolean).join(' · '), `/params/${name}`),
        );
      }
    }
    fill(paramsBox, fields);
    clearErrors();
  }

  function clearErrors() {
    formError.hidden = true;
    for (const el of form.querySelectorAll('.field-error')) el.hidden = true;
    for (const el of form.querySelectorAll('.invalid')) el.classList.remove('invalid');
    for (const el of form.querySelectorAll('[aria-invalid]')) el.removeAttribute('aria-invalid');
  }

  // A problem goes on the field its pointer names, or above the button when it names none
  // the form shows (an unknown param, a query parameter).
  function showProblem(problem) {
    const target =
      problem.pointer !== undefined
        ? [...form.querySelectorAll('.field')].find((f) => f.dataset.pointer === problem.pointer)
        : undefined;
    if (target) {
      target.classList.add('invalid');
      target.querySelector('input, select, textarea')?.setAttribute('aria-invalid', 'true');
      const error = target.querySelector('.field-error');
      error.hidden = false;
      setText(error, problem.detail || problem.title);
      target.querySelector('input, select, textarea')?.focus();
    }
    formError.hidden = false;
    const where = problem.pointer && !target ? ` (at ${problem.pointer})` : '';
    const retry = problem.retryAfter ? ` Retry in ${problem.retryAfter} s.` : '';
    fill(formError, h('strong', null, problem.title), target ? '' : ` ${problem.detail}${where}.${retry}`);
  }

  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    clearErrors();
    const spec = { kind: kindSelect.value, executor: executorSelect.value };
    if (freeForm) {
      const text = freeForm.value.trim();
      try {
        spec.params = text ? JSON.parse(text) : {};
      } catch (error) {
        showProblem({ title: 'Not JSON', detail: error.message, pointer: '/params' });
        return;
      }
    } else {
      spec.params = {};
      for (const [name, read] of Object.entries(readers)) {
        const value = read();
        if (value !== undefined) spec.params[name] = value;
      }
    }
    if (timeout.value.trim()) spec.timeout_ms = Number(timeout.value.trim()) || timeout.value.trim();
    if (idempotency.value) spec.idempotency_key = idempotency.value;
    submit.disabled = true;
    try {
      const { body } = await call('POST', '/v1/jobs', { body: spec });
      location.hash = `#/job/${body.id}`;
    } catch (problem) {
      showProblem(problem);
    } finally {
      submit.disabled = false;
    }
  });

  kindSelect.addEventListener('change', showKind);
  loadKinds().then(
    (list) => {
      kinds = list;
      const wanted = new URLSearchParams(location.hash.split('?')[1] ?? '').get('kind');
      fill(
        kindSelect,
        kinds.map((k) => h('option', { value: k.name, selected: k.name === wanted }, k.name)),
      );
      showKind();
    },
    (problem) => showProblem(problem),
  );
  return () => {};
}
