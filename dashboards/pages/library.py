"""library page (placeholder)."""
import streamlit as st
st.title("library")
