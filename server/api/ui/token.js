// The token dialog (index.html's #token-dialog): asked for by api.js when jobd answers 401.
// Resolves with what the person typed; it stays open until a non-empty token is given, since
// nothing on the page works without one.
export function askForToken(message) {
  const dialog = document.getElementById('token-dialog');
  const form = document.getElementById('token-form');
  const input = document.getElementById('token-input');
  const error = document.getElementById('token-error');
  error.textContent = message;
  error.hidden = !message;
  input.value = '';
  return new Promise((resolve) => {
    const submitted = (event) => {
      event.preventDefault();
      const token = input.value.trim();
      if (!token) {
        error.textContent = 'Enter a token.';
        error.hidden = false;
        return;
      }
      form.removeEventListener('submit', submitted);
      dialog.removeEventListener('cancel', refuseCancel);
      dialog.close();
      resolve(token);
    };
    // Escape would leave the page without a token and every view empty: keep the dialog.
    const refuseCancel = (event) => event.preventDefault();
    form.addEventListener('submit', submitted);
    dialog.addEventListener('cancel', refuseCancel);
    if (!dialog.open) dialog.showModal();
    input.focus();
  });
}
