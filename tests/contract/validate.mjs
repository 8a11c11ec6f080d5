// The contract test: every HTTP response that the integration suite received must be one that
// proto/openapi.yaml documents for its route, method and status, with the headers it requires
// and a body that validates against its schema (JSON Schema 2020-12, with Ajv).
//
//   node tests/contract/validate.mjs SPEC DIR
//
// DIR holds the log the integration tests write when JOBD_CONTRACT_DIR is set
// (tests/integration/contract_log.hpp): *.jsonl files, one response per line, as
// {test, method, target, status, headers, body, complete}. `method` and `target` are null for a
// response to bytes that were not HTTP: those are held to the connection-level refusals of
// `x-jobd-unrouted`, as are responses to any other request. Exits 1 listing every violation with
// the test that received it, or when nothing was recorded (a broken hook must not pass).
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';

function die(message) {
  console.error(`contract: ${message}`);
  process.exit(1);
}

let YAML, Ajv2020, addFormats;
try {
  YAML = (await import('yaml')).default;
  Ajv2020 = (await import('ajv/dist/2020.js')).default;
  addFormats = (await import('ajv-formats')).default;
} catch (error) {
  die(
    `the node packages are missing (${error.message}); ` +
      'run `npm ci` at the repository root (scripts/test does)',
  );
}

const [specPath, logDir] = process.argv.slice(2);
if (!specPath || !logDir) die('usage: validate.mjs SPEC DIR');

const spec = YAML.parse(readFileSync(specPath, 'utf8'));
// Strict, except for two checks that do not follow composition: a `required` in an if/then
// branch names properties defined beside it, and a `Problem*` schema gets its `type: object`
// through allOf.
const ajv = new Ajv2020({ allErrors: true, strict: true, strictRequired: false, strictTypes: false });
addFormats(ajv);
// The whole document is registered as one resource, so that the spec's own `#/components/...`
// references resolve; its top-level OpenAPI fields are keywords that Ajv ignores, and only the
// schemas reached from them through a pointer are compiled, strictly.
ajv.addVocabulary(Object.keys(spec));
ajv.addSchema(spec, 'openapi', undefined, false);

const HTTP_METHODS = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace'];

// --- The document: JSON pointers, $ref resolution, compiled validators. ---------------------

const escapeToken = (token) => String(token).replaceAll('~', '~0').replaceAll('/', '~1');
const unescapeToken = (token) => token.replaceAll('~1', '/').replaceAll('~0', '~');
const join = (pointer, ...tokens) => pointer + tokens.map((t) => '/' + escapeToken(t)).join('');

function at(pointer) {
  let node = spec;
  for (const token of pointer.split('/').slice(1)) {
    if (node === undefined || node === null) return undefined;
    node = node[unescapeToken(token)];
  }
  return node;
}

// Follows local `$ref`s: the node at `pointer` and where it really lives.
function resolve(pointer) {
  let node = at(pointer);
  for (let hops = 0; node && typeof node.$ref === 'string'; ++hops) {
    if (!node.$ref.startsWith('#') || hops > 20) die(`cannot follow $ref ${node.$ref} at ${pointer}`);
    pointer = node.$ref.slice(1);
    node = at(pointer);
  }
  if (node === undefined) die(`nothing at #${pointer}`);
  return { node, pointer };
}

const validators = new Map();
function validatorAt(pointer) {
  if (!validators.has(pointer)) {
    const fragment = pointer.split('/').map(encodeURIComponent).join('/');
    validators.set(pointer, ajv.compile({ $ref: `openapi#${fragment}` }));
  }
  return validators.get(pointer);
}

function schemaErrors(pointer, value) {
  const validate = validatorAt(pointer);
  if (validate(value)) return [];
  return validate.errors.slice(0, 6).map((e) => {
    const params = Object.keys(e.params).length ? ` ${JSON.stringify(e.params)}` : '';
    return `${e.instancePath || '(root)'} ${e.message}${params} [schema ${e.schemaPath}]`;
  });
}

// --- Routes. -------------------------------------------------------------------------------

const routes = Object.keys(spec.paths)
  .map((template) => {
    const pattern = template
      .split(/(\{[^}]+\})/)
      .map((part) => (part.startsWith('{') ? '[^/]+' : part.replace(/[.*+?^$()|[\]\\]/g, '\\$&')))
      .join('');
    return { template, regex: new RegExp(`^${pattern}$`), templated: template.includes('{') };
  })
  // A literal path wins over a template that also matches it.
  .sort((a, b) => a.templated - b.templated);

const unrouted = spec['x-jobd-unrouted'] ?? die('the spec has no x-jobd-unrouted');
const unroutedResponse = (kind, status) =>
  unrouted[kind]?.[status] ? resolve(join('/x-jobd-unrouted', kind, status)) : null;

// The spec's own promise: every operation lists every connection-level refusal.
const specProblems = [];
for (const { template } of routes) {
  for (const method of HTTP_METHODS) {
    const operation = spec.paths[template][method];
    if (!operation) continue;
    for (const status of Object.keys(unrouted['connection-level'])) {
      if (!operation.responses?.[status]) {
        specProblems.push(`${method.toUpperCase()} ${template} does not list the connection-level ${status}`);
      }
    }
  }
}
if (specProblems.length) die(`the spec is inconsistent:\n  ${specProblems.join('\n  ')}`);

// --- Bodies. -------------------------------------------------------------------------------

const normalizeType = (value) =>
  (value ?? '')
    .split(';')
    .map((part) => part.trim().toLowerCase())
    .join('; ');

// Server-Sent Events: the complete events of `text` (up to the last blank line), comments
// dropped, as {id?, event?, data?} objects like the spec's event schemas.
function parseSse(text) {
  const end = text.lastIndexOf('\n\n');
  const events = [];
  const problems = [];
  for (const block of (end < 0 ? '' : text.slice(0, end)).split('\n\n')) {
    const event = {};
    const data = [];
    for (const line of block.split('\n')) {
      if (line === '' || line.startsWith(':')) continue;
      const colon = line.indexOf(':');
      const field = colon < 0 ? line : line.slice(0, colon);
      let value = colon < 0 ? '' : line.slice(colon + 1);
      if (value.startsWith(' ')) value = value.slice(1);
      if (field === 'data') data.push(value);
      else if (field === 'id' || field === 'event') event[field] = value;
      else problems.push(`unexpected SSE field "${field}"`);
    }
    if (data.length) event.data = data.join('\n');
    if (Object.keys(event).length) events.push(event);
  }
  return { events, problems };
}

// For a stream schema (an array of event schemas): event name -> pointer of its data's schema.
const eventDataSchemas = new Map();
function dataSchemasOf(streamPointer) {
  if (!eventDataSchemas.has(streamPointer)) {
    const byName = new Map();
    const items = resolve(join(resolve(streamPointer).pointer, 'items'));
    (items.node.oneOf ?? []).forEach((_, i) => {
      const event = resolve(join(items.pointer, 'oneOf', i));
      const name = event.node.properties?.event?.const;
      if (name && event.node.properties?.data?.contentSchema) {
        byName.set(name, resolve(join(event.pointer, 'properties', 'data', 'contentSchema')).pointer);
      }
    });
    eventDataSchemas.set(streamPointer, byName);
  }
  return eventDataSchemas.get(streamPointer);
}

function bodyErrors(mediaType, schemaPointer, body) {
  if (mediaType === 'application/json' || mediaType.endsWith('+json')) {
    let value;
    try {
      value = JSON.parse(body);
    } catch (error) {
      return [`body is not JSON: ${error.message}`];
    }
    return schemaErrors(schemaPointer, value);
  }
  if (mediaType === 'text/event-stream') {
    const { events, problems } = parseSse(body);
    const errors = [...problems, ...schemaErrors(schemaPointer, events)];
    const dataSchemas = dataSchemasOf(schemaPointer);
    events.forEach((event, i) => {
      const dataSchema = dataSchemas.get(event.event);
      if (!dataSchema || event.data === undefined) return;  // the stream schema reported it
      let value;
      try {
        value = JSON.parse(event.data);
      } catch (error) {
        errors.push(`event ${i} (${event.event}): data is not JSON: ${error.message}`);
        return;
      }
      for (const e of schemaErrors(dataSchema, value)) errors.push(`event ${i} (${event.event}) data: ${e}`);
    });
    return errors;
  }
  return schemaErrors(schemaPointer, body);  // text: the schema of the whole string
}

// --- One record. ---------------------------------------------------------------------------

// Header values are text; a header schema of another type is checked on the parsed value.
function headerValue(schema, text) {
  if ((schema?.type === 'integer' || schema?.type === 'number') && /^-?\d+(\.\d+)?$/.test(text)) {
    return Number(text);
  }
  return text;
}

function responseErrors(record, response, headOnly) {
  const errors = [];
  const headers = record.headers ?? {};
  for (const name of Object.keys(response.node.headers ?? {})) {
    const header = resolve(join(response.pointer, 'headers', name));
    const value = headers[name.toLowerCase()];
    if (value === undefined) {
      if (header.node.required) errors.push(`header ${name} is missing`);
      continue;
    }
    if (header.node.schema) {
      const schema = resolve(join(header.pointer, 'schema'));
      for (const e of schemaErrors(schema.pointer, headerValue(schema.node, value))) {
        errors.push(`header ${name}: "${value}" ${e}`);
      }
    }
  }
  if (headOnly) {
    if (record.body) errors.push('a HEAD answer carries a body');
    return errors;
  }
  const content = response.node.content;
  if (!content) {
    if (record.body) errors.push('the answer has a body but documents none');
    return errors;
  }
  const actual = normalizeType(headers['content-type']);
  const mediaType = Object.keys(content).find((key) => normalizeType(key) === actual);
  if (mediaType === undefined) {
    errors.push(`Content-Type "${headers['content-type']}" is none of: ${Object.keys(content).join(', ')}`);
    return errors;
  }
  if (!record.complete) return errors;  // the test stopped reading: only a stream's whole events count
  const schema = join(response.pointer, 'content', mediaType, 'schema');
  if (at(schema) !== undefined) {
    errors.push(...bodyErrors(mediaType.split(';')[0].trim(), schema, record.body));
  }
  return errors;
}

function allowedMethods(pathItem) {
  const methods = HTTP_METHODS.filter((m) => pathItem[m]).map((m) => m.toUpperCase());
  if (methods.includes('GET') && !methods.includes('HEAD')) methods.push('HEAD');
  return methods.sort();
}

// Which documented answers a record may be, and what it is checked as.
function candidatesFor(record) {
  const connection = unroutedResponse('connection-level', record.status);
  if (record.method === null || record.target === null) {
    return { label: '(bytes that are not HTTP)', responses: connection ? [connection] : [] };
  }
  const target = record.target.split('?')[0];
  const route = target.startsWith('/') ? routes.find((r) => r.regex.test(target)) : undefined;
  if (!route) {
    const notFound = unroutedResponse('unmatched-path', record.status);
    return { label: '(no route)', responses: [notFound, connection].filter(Boolean) };
  }
  const pathItem = spec.paths[route.template];
  let method = record.method.toLowerCase();
  // Every GET route answers HEAD as GET without the body (documented in info.description).
  if (method === 'head' && !pathItem.head && pathItem.get) method = 'get';
  const label = `${method.toUpperCase()} ${route.template}`;
  if (!HTTP_METHODS.includes(method) || !pathItem[method]) {
    const notAllowed = unroutedResponse('unmatched-method', record.status);
    const extra = [];
    if (record.status === 405) {
      const expected = allowedMethods(pathItem).join(', ');
      const sent = (record.headers?.allow ?? '').split(',').map((m) => m.trim()).filter(Boolean).sort();
      if (sent.join(', ') !== expected) {
        extra.push(`Allow "${record.headers?.allow}" should list ${expected}`);
      }
    }
    const responses = [notAllowed, connection].filter(Boolean);
    return { label: `${label} (method not served)`, responses, extra };
  }
  const responses = pathItem[method].responses;
  const key = [String(record.status), `${String(record.status)[0]}XX`].find((k) => responses[k]);
  const base = join('/paths', route.template, method, 'responses');
  return { label, responses: key ? [resolve(join(base, key))] : [] };
}

// The violations of one record (none when it fits one of its documented answers), and the
// operation it was checked as.
function check(record) {
  const { label, responses, extra = [] } = candidatesFor(record);
  const extras = extra.map((e) => `${label}: ${e}`);
  if (responses.length === 0) {
    return { label, messages: [`${label}: status ${record.status} is not documented`, ...extras] };
  }
  const headOnly = record.method === 'HEAD';
  const attempts = responses.map((response) => responseErrors(record, response, headOnly));
  if (attempts.some((errors) => errors.length === 0)) return { label, messages: extras };
  const messages = attempts.flatMap((errors, i) =>
    errors.map((e) => `${label} ${record.status} (as ${responses[i].pointer.split('/').pop()}): ${e}`),
  );
  return { label, messages: [...messages, ...extras] };
}

// --- The run. ------------------------------------------------------------------------------

const files = existsSync(logDir) ? readdirSync(logDir).filter((f) => f.endsWith('.jsonl')) : [];
const violations = [];
const coverage = new Map();
let checked = 0;
let partial = 0;
for (const file of files.sort()) {
  const lines = readFileSync(path.join(logDir, file), 'utf8').split('\n').filter(Boolean);
  lines.forEach((line, i) => {
    let record;
    try {
      record = JSON.parse(line);
    } catch (error) {
      const message = `unreadable record: ${error.message}`;
      violations.push({ test: `${file}:${i + 1}`, where: '', message });
      return;
    }
    ++checked;
    if (!record.complete) ++partial;
    const where = record.method === null ? '(not HTTP)' : `${record.method} ${record.target}`;
    const { label, messages } = check(record);
    for (const message of messages) violations.push({ test: record.test, where, message });
    const key = `${label} ${record.status}`;
    coverage.set(key, (coverage.get(key) ?? 0) + 1);
  });
}

if (checked === 0) {
  die(
    `no response was recorded in ${logDir}: the integration tests' hook (JOBD_CONTRACT_DIR) ` +
      'is broken, or no integration test ran',
  );
}

console.log(`contract: ${checked} responses from ${files.length} test processes checked against ${specPath}`);
if (partial) {
  console.log(`contract: ${partial} of them were read in part (body checked only for whole events)`);
}
console.log('contract: answers seen, by operation and status:');
for (const [key, count] of [...coverage.entries()].sort()) console.log(`  ${key}: ${count}`);

// Documented answers that no test received: not a failure, but where the contract is unproven.
const unseen = [];
for (const { template } of routes) {
  for (const method of HTTP_METHODS) {
    for (const status of Object.keys(spec.paths[template][method]?.responses ?? {})) {
      const key = `${method.toUpperCase()} ${template} ${status}`;
      if (!coverage.has(key) && !(status in unrouted['connection-level'])) unseen.push(key);
    }
  }
}
if (unseen.length) {
  console.log('contract: documented, never received (connection-level refusals aside):');
  for (const key of unseen) console.log(`  ${key}`);
}

if (violations.length) {
  const shown = violations.slice(0, 200);
  for (const v of shown) console.error(`VIOLATION ${v.test}: ${v.where}\n    ${v.message}`);
  if (violations.length > shown.length) console.error(`... and ${violations.length - shown.length} more`);
  console.error(`contract: ${violations.length} violations of ${specPath}`);
  process.exit(1);
}
console.log('contract: every response matches the spec');
