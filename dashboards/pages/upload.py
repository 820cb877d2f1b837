"""upload page (placeholder)."""
import streamlit as st
st.title("upload")
