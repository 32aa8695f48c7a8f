// Profiles the viewer looked at (GET /api/users/:id, with `online` and
// `lastSeen`), and the viewer's own edits: name and bio (PATCH /api/me) and
// picture (POST and DELETE /api/me/avatar).
import { createAsyncThunk, createSlice } from '@reduxjs/toolkit';
import { api, errorValue } from '../api/http.js';
import { sessionEnded } from '../auth/sessionActions.js';
import { _ } from '../i18n/index.js';
import { userJoined, userUpdated } from '../online/onlineSlice.js';

export const MAX_AVATAR_BYTES = 5 * 1024 * 1024;
export const AVATAR_TYPES = ['image/png', 'image/jpeg', 'image/webp', 'image/gif'];

export const fetchUser = createAsyncThunk('profile/fetchUser', async (id, { rejectWithValue }) => {
  try {
    return (await api(`/api/users/${encodeURIComponent(id)}`)).user;
  } catch (error) {
    return rejectWithValue(errorValue(error));
  }
});

export const saveProfile = createAsyncThunk('profile/save', async (changes, { rejectWithValue }) => {
  try {
    return (await api('/api/me', { method: 'PATCH', json: changes })).user;
  } catch (error) {
    return rejectWithValue(errorValue(error));
  }
});

export const uploadAvatar = createAsyncThunk('profile/uploadAvatar', async (file, { rejectWithValue }) => {
  if (!AVATAR_TYPES.includes(file.type)) {
    return rejectWithValue({ status: 0, code: 'bad-image', message: _('Choose a PNG, JPEG, WebP or GIF picture.') });
  }
  if (file.size > MAX_AVATAR_BYTES) {
    return rejectWithValue({ status: 0, code: 'payload-too-large', message: _('The picture is larger than 5 MiB.') });
  }
  try {
    return (await api('/api/me/avatar', { method: 'POST', body: file, contentType: file.type })).user;
  } catch (error) {
    return rejectWithValue(errorValue(error));
  }
});

// The viewer's picture goes. The answer is the viewer without a picture,
// passed on as userUpdated so that the header, the list and the profile all
// follow at once (the server's own userUpdated comes too, and changes nothing).
export const removeAvatar = createAsyncThunk('profile/removeAvatar', async (_arg, { dispatch, rejectWithValue }) => {
  let user;
  try {
    user = (await api('/api/me/avatar', { method: 'DELETE' })).user;
  } catch (error) {
    return rejectWithValue(errorValue(error));
  }
  dispatch(userUpdated(user));
  return user;
});

const initialState = {
  // id → {status: 'loading' | 'loaded' | 'failed', user, error}
  users: {},
  // the viewer's own edits: {status: 'idle' | 'saving' | 'saved' | 'failed', error};
  // the picture also 'removing' | 'removed'
  save: { status: 'idle', error: null },
  avatar: { status: 'idle', error: null },
};

function remember(state, user) {
  const entry = state.users[user.id];
  if (entry?.user) {
    entry.user = { ...entry.user, ...user };
  } else {
    state.users[user.id] = { status: 'loaded', user, error: null };
  }
}

function freshen(state, action) {
  const user = action.payload;
  const entry = user && state.users[user.id];
  if (entry?.user) {
    entry.user.first = user.first;
    entry.user.last = user.last;
    entry.user.imageUrl = user.imageUrl;
  }
}

// state[key] follows `thunk`: `busy` while it runs, `done` when the answer
// (the viewer) has come, or failed with the error.
function editCases(builder, thunk, key, busy, done) {
  builder
    .addCase(thunk.pending, (state) => {
      state[key] = { status: busy, error: null };
    })
    .addCase(thunk.fulfilled, (state, action) => {
      state[key] = { status: done, error: null };
      remember(state, action.payload);
    })
    .addCase(thunk.rejected, (state, action) => {
      state[key] = { status: 'failed', error: action.payload ?? null };
    });
}

const profileSlice = createSlice({
  name: 'profile',
  initialState,
  reducers: {
    resetEditStatus(state) {
      state.save = initialState.save;
      state.avatar = initialState.avatar;
    },
  },
  extraReducers: (builder) => {
    // The viewer's own edits: each a thunk whose answer is the viewer.
    editCases(builder, saveProfile, 'save', 'saving', 'saved');
    editCases(builder, uploadAvatar, 'avatar', 'saving', 'saved');
    editCases(builder, removeAvatar, 'avatar', 'removing', 'removed');
    builder
      .addCase(fetchUser.pending, (state, action) => {
        const entry = state.users[action.meta.arg];
        state.users[action.meta.arg] = { status: 'loading', user: entry?.user ?? null, error: null };
      })
      .addCase(fetchUser.fulfilled, (state, action) => {
        state.users[action.meta.arg] = { status: 'loaded', user: action.payload, error: null };
      })
      .addCase(fetchUser.rejected, (state, action) => {
        state.users[action.meta.arg] = { status: 'failed', user: null, error: action.payload ?? null };
      })
      .addCase(userUpdated, freshen)
      .addCase(userJoined, freshen)
      .addCase(sessionEnded, () => initialState);
  },
});

export const { resetEditStatus } = profileSlice.actions;
export default profileSlice.reducer;

export const selectProfileEntry = (state, id) => state.profile.users[id] ?? null;
