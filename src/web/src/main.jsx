import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';
import { Provider } from 'react-redux';
import { BrowserRouter } from 'react-router';
import App from './app/App.jsx';
import { makeStore } from './app/store.js';
import { checkSession } from './auth/authSlice.js';
import './app/styles.css';

// One store and one socket per tab. A hot update of this module closes the
// old socket before the new module opens its own.
const { store, socket } = makeStore();
if (import.meta.hot) {
  import.meta.hot.dispose(() => socket.stop());
}

store.dispatch(checkSession());

createRoot(document.getElementById('root')).render(
  <StrictMode>
    <Provider store={store}>
      <BrowserRouter>
        <App socket={socket} />
      </BrowserRouter>
    </Provider>
  </StrictMode>,
);
