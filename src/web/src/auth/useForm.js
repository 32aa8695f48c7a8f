// The state of a form that helps: its values, every field's problem at
// once (checked before sending, then the server's answer), and the focus
// led to the first problem, so that it never drops to <body>.
import { useCallback, useEffect, useRef, useState } from 'react';
import { errorText } from '../common/ErrorMessage.jsx';
import { fieldOfError } from './fieldErrors.js';
import { firstInvalid } from './validate.js';

/**
 * `validate(values)` gives {field: message}; `order` lists the fields as
 * the form shows them; `send(values)` is called when nothing is wrong and
 * the form is not `busy`; `serverError` is the API error of the last send
 * ({code, message, ...}), shown on its field or above the form.
 */
export default function useForm({ initial, validate, order, send, busy, serverError }) {
  const [values, setValues] = useState(initial);
  const [errors, setErrors] = useState({});
  const [focusRequest, setFocusRequest] = useState(null);
  const inputs = useRef({});
  const messageRef = useRef(null);
  const waiting = useRef(false);

  const serverField = fieldOfError(serverError);
  const fieldErrors = serverField && !(serverField in errors)
    ? { ...errors, [serverField]: errorText(serverError) } : errors;
  const formError = serverField ? null : serverError;

  const change = useCallback((event) => {
    const { name, value } = event.target;
    setValues((old) => ({ ...old, [name]: value }));
    setErrors((old) => {
      if (!(name in old)) return old;
      const rest = { ...old };
      delete rest[name];
      return rest;
    });
  }, []);

  function submit(event) {
    event.preventDefault();
    if (busy) return;
    const found = validate(values);
    setErrors(found);
    const first = firstInvalid(found, order);
    if (first) {
      // Focus after the errors are drawn, so the input's description has them.
      setFocusRequest({ field: first });
      return;
    }
    waiting.current = true;
    send(values);
  }

  useEffect(() => {
    if (focusRequest) inputs.current[focusRequest.field]?.focus();
  }, [focusRequest]);

  // The answer to a send failed: to the field it is about, or the message.
  useEffect(() => {
    if (!serverError || !waiting.current) return;
    waiting.current = false;
    const input = serverField && inputs.current[serverField];
    if (input) input.focus();
    else messageRef.current?.focus();
  }, [serverError, serverField]);

  /** The props of <Field> for `name`. */
  function field(name) {
    return {
      id: name,
      value: values[name],
      onChange: change,
      error: fieldErrors[name] ?? null,
      ref: (element) => {
        inputs.current[name] = element;
      },
    };
  }

  return { values, field, submit, formError, messageRef };
}
