"""drift page (placeholder)."""
import streamlit as st
st.title("drift")
