// Who the viewer is: the session and the viewer's own user (with email).
import { createAsyncThunk, createSlice } from '@reduxjs/toolkit';
import { api, errorValue } from '../api/http.js';
import { _ } from '../i18n/index.js';
import { userUpdated } from '../online/onlineSlice.js';
import { saveProfile, uploadAvatar } from '../profile/profileSlice.js';
import { sessionEnded } from './sessionActions.js';

function thunk(type, call) {
  return createAsyncThunk(type, async (arg, { rejectWithValue, dispatch }) => {
    try {
      return await call(arg, dispatch);
    } catch (error) {
      return rejectWithValue(errorValue(error));
    }
  });
}

export const checkSession = thunk('auth/checkSession', async () => (await api('/api/me')).user);

export const login = thunk('auth/login', async ({ email, password }) =>
  (await api('/api/login', { method: 'POST', json: { email, password } })).user);

export const register = thunk('auth/register', async ({ first, last, email, password }) =>
  (await api('/api/register', { method: 'POST', json: { first, last, email, password } })).user);

export const logout = thunk('auth/logout', async (_arg, dispatch) => {
  await api('/api/logout', { method: 'POST' });
  dispatch(sessionEnded());
  return null;
});

const initialState = {
  // 'unknown' until GET /api/me answers; 'unreachable' if it could not.
  status: 'unknown',
  me: null,
  busy: false,
  error: null,
};

function loggedIn(state, action) {
  state.status = 'logged-in';
  state.me = action.payload;
  state.busy = false;
  state.error = null;
}

function failed(state, action) {
  state.busy = false;
  state.error = action.payload ?? { code: 'client-error', message: action.error?.message ?? _('Something went wrong.') };
}

function started(state) {
  state.busy = true;
  state.error = null;
}

const authSlice = createSlice({
  name: 'auth',
  initialState,
  reducers: {
    clearAuthError(state) {
      state.error = null;
    },
  },
  extraReducers: (builder) => {
    builder
      .addCase(checkSession.fulfilled, loggedIn)
      .addCase(checkSession.rejected, (state, action) => {
        if (action.payload?.status === 401) {
          state.status = 'logged-out';
          state.me = null;
          state.error = null;
        } else {
          state.status = 'unreachable';
          state.error = action.payload ?? null;
        }
      })
      .addCase(login.pending, started)
      .addCase(login.fulfilled, loggedIn)
      .addCase(login.rejected, failed)
      .addCase(register.pending, started)
      .addCase(register.fulfilled, loggedIn)
      .addCase(register.rejected, failed)
      .addCase(logout.pending, started)
      .addCase(logout.rejected, failed)
      .addCase(sessionEnded, (state) => {
        state.status = 'logged-out';
        state.me = null;
        state.busy = false;
      })
      .addCase(saveProfile.fulfilled, (state, action) => {
        state.me = action.payload;
      })
      .addCase(uploadAvatar.fulfilled, (state, action) => {
        state.me = action.payload;
      })
      .addCase(userUpdated, (state, action) => {
        const user = action.payload;
        if (state.me && user && state.me.id === user.id) {
          state.me.first = user.first;
          state.me.last = user.last;
          state.me.imageUrl = user.imageUrl;
        }
      });
  },
});

export const { clearAuthError } = authSlice.actions;
export default authSlice.reducer;

export const selectAuth = (state) => state.auth;
export const selectMe = (state) => state.auth.me;
export const selectIsLoggedIn = (state) => state.auth.status === 'logged-in';
