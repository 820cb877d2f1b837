"""suggestions page (placeholder)."""
import streamlit as st
st.title("suggestions")
