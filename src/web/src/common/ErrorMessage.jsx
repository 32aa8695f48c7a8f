// An error the server (or the client) gave, announced to screen readers.
export default function ErrorMessage({ error }) {
  if (!error) return null;
  return (
    <p className="message message--error" role="alert">
      {error.message}
    </p>
  );
}
